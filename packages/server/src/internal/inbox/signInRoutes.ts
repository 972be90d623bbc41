/**
 * Signing in with an API or OIDC bearer token (the session cookie never outlives it) and signing out.
 */
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Jose from "jose"
import type { InboxEnv } from "./env.js"
import { CsrfRefused, recover } from "./errors.js"
import { signIn } from "./layout.js"
import { decodeForm, queryOf, readForm, Text } from "./requests.js"
import { page, seeOther } from "./responses.js"
import * as Session from "./session.js"

const SignInForm = Schema.Struct({ _csrf: Text("_csrf", 200), token: Text("Token", 8192) })

/** Where to go after signing in, kept between the sign-in page and its post. */
const nextCookie = "gatehouse_next"

/** The expiry (epoch milliseconds) of a JWT's `exp` claim; none for an API token. */
const tokenExpiry = (token: string): number | undefined => {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) return undefined
  try {
    const exp = Jose.decodeJwt(token).exp
    return typeof exp === "number" ? exp * 1000 : undefined
  } catch {
    return undefined
  }
}

/**
 * Where to go after signing in: a path of the inbox made of printable ASCII only (it goes into a `Location` header,
 * which cannot carry a control character or a space), anything else is the inbox itself.
 */
const safeNext = (next: string | null): string =>
  next !== null && /^\/inbox(?:[/?][\x21-\x7e]*)?$/.test(next) && !next.includes("\\") ? next : "/inbox"

/** `GET` and `POST /inbox/sign-in`, `POST /inbox/sign-out`. */
export const register = (router: HttpApiBuilder.Router["Type"], env: InboxEnv) =>
  Effect.gen(function*() {
    const { cookieOptions, keys } = env

    yield* router.get(
      "/inbox/sign-in",
      recover(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const existing = request.cookies[Session.loginCookie]
        const nonce = existing !== undefined && /^[A-Za-z0-9_-]{22}$/.test(existing) ? existing : Session.randomId()
        const next = safeNext(queryOf(request).get("next"))
        return page(signIn({ csrf: Session.csrfFor(keys, `login:${nonce}`) })).pipe(
          HttpServerResponse.unsafeSetCookie(Session.loginCookie, nonce, { ...cookieOptions, maxAge: "1 hour" }),
          HttpServerResponse.unsafeSetCookie(nextCookie, next, { ...cookieOptions, maxAge: "1 hour" })
        )
      }))
    )

    yield* router.post(
      "/inbox/sign-in",
      recover(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const form = yield* readForm
        const nonce = request.cookies[Session.loginCookie]
        if (!Session.checkCsrf(keys, `login:${nonce}`, form.get("_csrf") ?? undefined)) {
          return yield* new CsrfRefused({ viewer: undefined })
        }
        const input = yield* decodeForm(SignInForm, form)
        const principal = yield* env.auth.bearer(Redacted.make(input.token.trim())).pipe(Effect.either)
        if (principal._tag === "Left") {
          return page(signIn({ csrf: Session.csrfFor(keys, `login:${nonce}`), error: "That token is not valid." }), 401)
        }
        const now = yield* Clock.currentTimeMillis
        // A session never outlives the bearer token it was opened with (verified above, so its claims hold).
        const exp = Math.min(now + env.ttl, tokenExpiry(input.token.trim()) ?? Number.MAX_SAFE_INTEGER)
        const cookie = Session.encodeSession(keys, {
          id: principal.right.id,
          roles: principal.right.roles,
          sid: Session.randomId(),
          exp
        })
        return seeOther(safeNext(request.cookies[nextCookie] ?? null)).pipe(
          HttpServerResponse.unsafeSetCookie(Session.sessionCookie, cookie, {
            ...cookieOptions,
            maxAge: Math.max(0, exp - now)
          }),
          HttpServerResponse.expireCookie(Session.loginCookie, { path: "/inbox" }),
          HttpServerResponse.expireCookie(nextCookie, { path: "/inbox" })
        )
      }))
    )

    yield* router.post(
      "/inbox/sign-out",
      recover(Effect.gen(function*() {
        const viewer = yield* env.currentViewer
        const form = yield* readForm
        // The CSRF check comes first: a form without its token is refused (403) before its fields are read.
        const csrf = form.get("_csrf") ?? undefined
        if (Option.isSome(viewer) && !Session.checkCsrf(keys, `session:${viewer.value.sid}`, csrf)) {
          return yield* new CsrfRefused({ viewer: viewer.value })
        }
        return seeOther("/inbox/sign-in").pipe(
          HttpServerResponse.expireCookie(Session.sessionCookie, { path: "/inbox" })
        )
      }))
    )
  })
