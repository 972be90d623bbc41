/**
 * What every inbox route works with, built once when the routes are registered: the engine's services, the
 * session keys, and the signed-in viewer of a request (`signedIn` for pages, `signedInPost` for forms).
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { ActionLinks, Approvals, Audit, Events, type StorageError, Workflows } from "@gatehouse/engine"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import { Authentication, Principal } from "../../Authentication.js"
import type { Options } from "../../Inbox.js"
import { CsrfRefused, SignedOut } from "./errors.js"
import type { Viewer } from "./layout.js"
import { readForm } from "./requests.js"
import { seeOther } from "./responses.js"
import * as Session from "./session.js"

/** A signed-in viewer, with the id of its session (what its CSRF tokens are bound to). */
export interface SignedInViewer extends Viewer {
  readonly sid: string
}

/** The services and settings of the inbox's routes. */
export interface InboxEnv {
  readonly approvals: Approvals.Approvals["Type"]
  readonly links: ActionLinks.ActionLinks["Type"]
  readonly workflows: Workflows.Workflows["Type"]
  readonly events: Events.Events["Type"]
  readonly auth: Authentication["Type"]
  /** A run's audit entries and the verification of the whole chain, for the run page. */
  readonly auditOf: (runId: string) => Effect.Effect<{
    readonly audit: ReadonlyArray<Audit.Entry>
    readonly verification: Audit.Verification
  }, StorageError.StorageError>
  readonly keys: Session.Keyring
  /** How long a session lasts after sign-in, in milliseconds. */
  readonly ttl: number
  readonly cookieOptions: {
    readonly httpOnly: true
    readonly sameSite: "lax"
    readonly path: "/inbox"
    readonly secure: boolean
  }
  /** The signed-in viewer of the request, or none. */
  readonly currentViewer: Effect.Effect<Option.Option<SignedInViewer>, never, HttpServerRequest.HttpServerRequest>
}

/** A run's audit entries and whether the whole chain verifies, for the run page. */
const auditThrough = (audit: Audit.Audit["Type"]) => (runId: string) =>
  Effect.all({ audit: audit.forRun(runId), verification: audit.verify })

/** Builds the routes' environment from the engine's services of the context. */
export const make = (options: Options) =>
  Effect.gen(function*() {
    const keys = Session.makeKeyring(
      options.sessionKey !== undefined ? Redacted.value(options.sessionKey) : randomBytes(32).toString("base64url")
    )
    const currentViewer = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const now = yield* Clock.currentTimeMillis
      const session = Session.decodeCookie(keys, request.cookies[Session.sessionCookie], now)
      if (session === undefined) return Option.none<SignedInViewer>()
      return Option.some<SignedInViewer>({
        id: session.id,
        roles: session.roles,
        sid: session.sid,
        csrf: Session.csrfFor(keys, `session:${session.sid}`)
      })
    })
    const env: InboxEnv = {
      approvals: yield* Approvals.Approvals,
      links: yield* ActionLinks.ActionLinks,
      workflows: yield* Workflows.Workflows,
      events: yield* Events.Events,
      auth: yield* Authentication,
      auditOf: auditThrough(yield* Audit.Audit),
      keys,
      ttl: options.sessionTtlMillis ?? 8 * 60 * 60 * 1000,
      cookieOptions: {
        httpOnly: true,
        sameSite: "lax",
        path: "/inbox",
        secure: options.publicUrl?.startsWith("https:") === true
      },
      currentViewer
    }
    return env
  })

const toSignIn = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  const url = new URL(request.url, "http://inbox")
  return seeOther(`/inbox/sign-in?next=${encodeURIComponent(url.pathname + url.search)}`)
})

/** Runs `body` for a signed-in viewer; others go to the sign-in page. */
export const signedIn = <E, R>(
  env: InboxEnv,
  body: (viewer: SignedInViewer) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(
    env.currentViewer,
    (viewer): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
      Option.isNone(viewer) ? toSignIn : body(viewer.value)
  )

/** Reads and CSRF-checks a signed-in viewer's form post, then runs `body` with it. */
export const signedInPost = <E, R>(
  env: InboxEnv,
  body: (viewer: SignedInViewer, form: URLSearchParams) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
) =>
  Effect.gen(function*() {
    const viewer = yield* env.currentViewer
    const form = yield* readForm
    if (Option.isNone(viewer)) return yield* new SignedOut()
    if (!Session.checkCsrf(env.keys, `session:${viewer.value.sid}`, form.get("_csrf") ?? undefined)) {
      return yield* new CsrfRefused({ viewer: viewer.value })
    }
    return yield* body(viewer.value, form)
  })

/** The viewer as the server's access rules take a principal. */
export const principalOf = (viewer: Viewer): Principal => new Principal({ id: viewer.id, roles: viewer.roles })
