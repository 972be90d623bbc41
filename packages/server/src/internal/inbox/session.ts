/**
 * Inbox sessions and CSRF tokens, stateless: the session cookie carries the principal and an expiry,
 * signed with HMAC-SHA256 under the server's session key, so any server process holding the same key
 * (several processes on one PostgreSQL database) accepts it, and nothing is stored. A CSRF token is an
 * HMAC of the session's random id (or, before sign-in, of a random pre-session cookie), checked on every
 * POST. Signing out clears the cookie; a copied cookie stays valid until it expires (`sessionTtl`).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto"
import * as Schema from "effect/Schema"

export const sessionCookie = "gatehouse_session"
export const loginCookie = "gatehouse_login"

export const Session = Schema.Struct({
  id: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200)),
  roles: Schema.Array(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(100))).pipe(Schema.maxItems(50)),
  /** Random, per sign-in: what the CSRF token is bound to. */
  sid: Schema.String.pipe(Schema.pattern(/^[A-Za-z0-9_-]{22}$/)),
  /** Epoch milliseconds. */
  exp: Schema.Number
})

export type Session = typeof Session.Type

const decodeSession = Schema.decodeUnknownOption(Schema.parseJson(Session))

export interface Keyring {
  readonly sign: (purpose: string, value: string) => string
  readonly verify: (purpose: string, value: string, signature: string) => boolean
}

export const makeKeyring = (key: string): Keyring => {
  const sign = (purpose: string, value: string) =>
    createHmac("sha256", key).update(`${purpose}\n${value}`).digest("base64url")
  return {
    sign,
    verify: (purpose, value, signature) => {
      const expected = Buffer.from(sign(purpose, value))
      const given = Buffer.from(signature)
      return expected.length === given.length && timingSafeEqual(expected, given)
    }
  }
}

export const randomId = (): string => randomBytes(16).toString("base64url")

export const encodeSession = (keys: Keyring, session: Session): string => {
  const body = Buffer.from(JSON.stringify(session), "utf8").toString("base64url")
  return `${body}.${keys.sign("session", body)}`
}

export const decodeCookie = (keys: Keyring, cookie: string | undefined, now: number): Session | undefined => {
  if (cookie === undefined || cookie.length > 4096) return undefined
  const dot = cookie.indexOf(".")
  if (dot < 0) return undefined
  const body = cookie.slice(0, dot)
  if (!keys.verify("session", body, cookie.slice(dot + 1))) return undefined
  const session = decodeSession(Buffer.from(body, "base64url").toString("utf8"))
  if (session._tag === "None" || session.value.exp <= now) return undefined
  return session.value
}

export const csrfFor = (keys: Keyring, binding: string): string => keys.sign("csrf", binding)

export const checkCsrf = (keys: Keyring, binding: string | undefined, token: string | undefined): boolean =>
  binding !== undefined && token !== undefined && token.length < 200 && keys.verify("csrf", binding, token)
