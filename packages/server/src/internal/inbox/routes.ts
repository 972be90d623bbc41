/**
 * The inbox's routes: sign in and out, the list, an approval and its decision, bulk decisions, a run, action
 * link confirm pages and the live event stream, registered on the API's router by `Inbox.layer`.
 */
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import { ActionLinks, Approvals, Audit, Events, Waiting, Workflows } from "@gatehouse/engine"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Jose from "jose"
import { randomBytes } from "node:crypto"
import { Authentication, isOperator, Principal } from "../../Authentication.js"
import { StreamSettings } from "../../http/EventsLive.js"
import { isReviewer } from "../access.js"
import * as Assets from "./assets.js"
import { fieldsOf, payloadOf, valuesOf } from "./forms.js"
import type { Html } from "./html.js"
import * as Pages from "./pages.js"
import * as Session from "./session.js"
import type { Options } from "../../Inbox.js"

const securityHeaders = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  // Action link tokens are in URLs: never send them on as a referrer.
  "referrer-policy": "no-referrer",
  "cache-control": "no-store"
}

const page = (body: Html, status = 200): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(body.value, {
    status,
    contentType: "text/html; charset=utf-8",
    headers: securityHeaders
  })

const seeOther = (location: string) =>
  HttpServerResponse.redirect(location, { status: 303, headers: { "cache-control": "no-store" } })

const Text = (name: string, max: number) =>
  Schema.String.pipe(
    Schema.maxLength(max, { message: () => `${name} is longer than ${max} characters` }),
    Schema.filter((s) => !s.includes("\u0000") || `${name} contains a NUL character`)
  )

const DecisionForm = Schema.Struct({
  _csrf: Text("_csrf", 200),
  verdict: Approvals.Verdict.annotations({ message: () => "verdict must be approve, deny or request-changes" }),
  note: Schema.optional(Text("Note", Approvals.limits.noteLength)),
  requestHash: Text("requestHash", 128)
})

const BulkForm = Schema.Struct({
  _csrf: Text("_csrf", 200),
  verdict: Schema.Literal("approve", "deny").annotations({ message: () => "verdict must be approve or deny" }),
  note: Schema.optional(Text("Note", Approvals.limits.noteLength)),
  item: Schema.Array(Text("item", 800)).pipe(
    Schema.minItems(1, { message: () => "select at least one approval" }),
    Schema.maxItems(100, { message: () => "select at most 100 approvals" })
  )
})

const SignInForm = Schema.Struct({ _csrf: Text("_csrf", 200), token: Text("Token", 8192) })
const LinkForm = Schema.Struct({ _csrf: Text("_csrf", 200), note: Schema.optional(Text("Note", Approvals.limits.noteLength)) })

const ListQuery = Schema.Struct({
  status: Schema.optionalWith(Schema.Literal("pending", "mine", "all"), { default: () => "pending" as const }),
  workflow: Schema.optional(Text("workflow", 300)),
  cursor: Schema.optional(Text("cursor", 1000)),
  partial: Schema.optional(Schema.Literal("1"))
})

class BadForm extends Error {}

/** Form fields as a record (repeated names as arrays for the keys in `many`), decoded with `schema`. */
const decodeForm = <A, I>(schema: Schema.Schema<A, I>, form: URLSearchParams, many: ReadonlyArray<string> = []) => {
  const record: Record<string, unknown> = {}
  for (const key of new Set(form.keys())) record[key] = many.includes(key) ? form.getAll(key) : form.get(key)
  for (const key of many) if (!(key in record)) record[key] = []
  for (const [key, value] of Object.entries(record)) if (value === "" && key === "note") delete record[key]
  return Schema.decodeUnknown(schema)(record, { onExcessProperty: "ignore" }).pipe(
    Effect.mapError((error) => new BadForm(ParseResult.TreeFormatter.formatErrorSync(error)))
  )
}

const readForm = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
  Effect.map(request.text, (text) => new URLSearchParams(text))).pipe(
    Effect.mapError(() => new BadForm("the form could not be read"))
  )

const queryOf = (request: HttpServerRequest.HttpServerRequest) => new URL(request.url, "http://inbox").searchParams

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

/** Registers every route of the inbox on `router`, with the engine's services of the context. */
export const register = (router: HttpApiBuilder.Router["Type"], options: Options) =>
  Effect.gen(function*() {
    const approvals = yield* Approvals.Approvals
    const links = yield* ActionLinks.ActionLinks
    const workflows = yield* Workflows.Workflows
    const events = yield* Events.Events
    const sql = yield* SqlClient.SqlClient
    const auth = yield* Authentication
    const keys = Session.makeKeyring(
      options.sessionKey !== undefined ? Redacted.value(options.sessionKey) : randomBytes(32).toString("base64url")
    )
    const ttl = options.sessionTtlMillis ?? 8 * 60 * 60 * 1000
    const secure = options.publicUrl?.startsWith("https:") === true
    const cookieOptions = { httpOnly: true, sameSite: "lax", path: "/inbox", secure } as const
    const engineContext = Context.make(Approvals.Approvals, approvals).pipe(
      Context.add(Workflows.Workflows, workflows),
      Context.add(SqlClient.SqlClient, sql)
    )

    /** The signed-in viewer, or none. */
    const currentViewer = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const now = yield* Clock.currentTimeMillis
      const session = Session.decodeCookie(keys, request.cookies[Session.sessionCookie], now)
      if (session === undefined) return Option.none<Pages.Viewer & { readonly sid: string }>()
      return Option.some({
        id: session.id,
        roles: session.roles,
        sid: session.sid,
        csrf: Session.csrfFor(keys, `session:${session.sid}`)
      })
    })

    const toSignIn = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const url = new URL(request.url, "http://inbox")
      return seeOther(`/inbox/sign-in?next=${encodeURIComponent(url.pathname + url.search)}`)
    })

    /** Runs `body` for a signed-in viewer; others go to the sign-in page. */
    const signedIn = <E, R>(
      body: (viewer: Pages.Viewer & { readonly sid: string }) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) =>
      Effect.flatMap(
        currentViewer,
        (viewer): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R | HttpServerRequest.HttpServerRequest> =>
          Option.isNone(viewer) ? toSignIn : body(viewer.value)
      )

    /** Reads and CSRF-checks a signed-in viewer's form post. */
    const signedInPost = <E, R>(
      body: (
        viewer: Pages.Viewer & { readonly sid: string },
        form: URLSearchParams
      ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
    ) =>
      Effect.gen(function*() {
        const viewer = yield* currentViewer
        const form = yield* readForm
        if (Option.isNone(viewer)) return page(Pages.message({ title: "Signed out", text: "Your session has ended: sign in again." }), 401)
        if (!Session.checkCsrf(keys, `session:${viewer.value.sid}`, form.get("_csrf") ?? undefined)) {
          return forbiddenCsrf(viewer.value)
        }
        return yield* body(viewer.value, form)
      })

    const forbiddenCsrf = (viewer?: Pages.Viewer) =>
      page(
        Pages.message({
          title: "Request refused",
          text: "The form's security token is missing or invalid (CSRF). Nothing was changed. Reload the page and try again.",
          viewer,
          back: { href: "/inbox", label: "Back to the inbox" }
        }),
        403
      )

    const reviewerOf = (viewer: Pages.Viewer): Approvals.Reviewer => ({ id: viewer.id, roles: viewer.roles })
    const principalOf = (viewer: Pages.Viewer) => new Principal({ id: viewer.id, roles: viewer.roles })

    /** Whether the viewer may read this approval: operators, its reviewers, and whoever voted on it. */
    const mayRead = (viewer: Pages.Viewer, approval: Approvals.ApprovalRecord) =>
      isOperator(principalOf(viewer)) || isReviewer(principalOf(viewer), approval) ||
      (approval.votes ?? []).some((vote) => vote.voter === viewer.id) ||
      (approval.decision as { decidedBy?: string } | undefined)?.decidedBy === viewer.id

    const previousOf = (approval: Approvals.ApprovalRecord) =>
      approval.revision <= 1
        ? Effect.succeed(undefined)
        : approvals.get({ runId: approval.runId, nodeId: `${approval.baseId}#${approval.revision - 1}` }).pipe(
          Effect.option,
          Effect.map(Option.getOrUndefined)
        )

    const renderApproval = (
      viewer: Pages.Viewer,
      approval: Approvals.ApprovalRecord,
      extra: {
        readonly banner?: { readonly kind: "stale" | "error" | "done"; readonly text: string } | undefined
        readonly values?: Readonly<Record<string, string>>
        readonly note?: string | undefined
      } = {}
    ) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const allowed = yield* approvals.canDecide({ runId: approval.runId, nodeId: approval.nodeId }, reviewerOf(viewer))
        const inspection = yield* workflows.inspect(approval.runId).pipe(Effect.option, Effect.map(Option.getOrUndefined))
        return Pages.approvalPage({
          viewer,
          approval,
          previous: yield* previousOf(approval),
          allowed,
          wait: approval.status === "waiting-approval" ? Waiting.approvalWait(approval) : undefined,
          inspection,
          fields: fieldsOf(approval.decisionSchema),
          now,
          ...extra
        })
      })

    const notFound = (viewer?: Pages.Viewer) =>
      page(
        Pages.message({
          title: "Not found",
          text: "There is no such approval, or you may not see it.",
          viewer,
          back: { href: "/inbox", label: "Back to the inbox" }
        }),
        404
      )

    const recover = (effect: Effect.Effect<HttpServerResponse.HttpServerResponse, unknown, any>) =>
      effect.pipe(
        Effect.catchAll((error) => {
          if (error instanceof BadForm) {
            return Effect.succeed(page(Pages.message({ title: "Invalid request", text: error.message }), 400))
          }
          const tag = (error as { _tag?: string })._tag
          if (tag === "StorageError") {
            return Effect.as(
              Effect.logError("inbox: storage failure", error),
              page(Pages.message({ title: "Unavailable", text: "The database could not serve the request. Try again." }), 503)
            )
          }
          if (tag === "ApprovalNotFound" || tag === "RunNotFound") return Effect.succeed(notFound())
          if (tag === "InvalidDecision" || tag === "InvalidCursor") {
            return Effect.succeed(page(Pages.message({ title: "Invalid request", text: String((error as Error).message) }), 400))
          }
          return Effect.as(
            Effect.logError("inbox: unexpected failure", error),
            page(Pages.message({ title: "Error", text: "Something went wrong." }), 500)
          )
        }),
        Effect.provide(engineContext)
      ) as Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest | HttpRouter.RouteContext>

    // Assets
    yield* router.get("/inbox/assets/inbox.js", Effect.succeed(HttpServerResponse.text(Assets.script, {
      contentType: "text/javascript; charset=utf-8",
      headers: { "cache-control": "public, max-age=300", "x-content-type-options": "nosniff" }
    })))
    yield* router.get("/inbox/assets/inbox.css", Effect.succeed(HttpServerResponse.text(Assets.stylesheet, {
      contentType: "text/css; charset=utf-8",
      headers: { "cache-control": "public, max-age=300", "x-content-type-options": "nosniff" }
    })))

    // Sign in and out
    yield* router.get(
      "/inbox/sign-in",
      recover(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const existing = request.cookies[Session.loginCookie]
        const nonce = existing !== undefined && /^[A-Za-z0-9_-]{22}$/.test(existing) ? existing : Session.randomId()
        const next = safeNext(queryOf(request).get("next"))
        return page(Pages.signIn({ csrf: Session.csrfFor(keys, `login:${nonce}`) })).pipe(
          HttpServerResponse.unsafeSetCookie(Session.loginCookie, nonce, { ...cookieOptions, maxAge: "1 hour" }),
          HttpServerResponse.unsafeSetCookie("gatehouse_next", next, { ...cookieOptions, maxAge: "1 hour" })
        )
      }))
    )
    yield* router.post(
      "/inbox/sign-in",
      recover(Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        const form = yield* readForm
        const nonce = request.cookies[Session.loginCookie]
        if (!Session.checkCsrf(keys, `login:${nonce}`, form.get("_csrf") ?? undefined)) return forbiddenCsrf()
        const input = yield* decodeForm(SignInForm, form)
        const principal = yield* auth.bearer(Redacted.make(input.token.trim())).pipe(Effect.either)
        if (principal._tag === "Left") {
          return page(
            Pages.signIn({ csrf: Session.csrfFor(keys, `login:${nonce}`), error: "That token is not valid." }),
            401
          )
        }
        const now = yield* Clock.currentTimeMillis
        // A session never outlives the bearer token it was opened with (verified above, so its claims hold).
        const exp = Math.min(now + ttl, tokenExpiry(input.token.trim()) ?? Number.MAX_SAFE_INTEGER)
        const cookie = Session.encodeSession(keys, {
          id: principal.right.id,
          roles: principal.right.roles,
          sid: Session.randomId(),
          exp
        })
        return seeOther(safeNext(request.cookies["gatehouse_next"] ?? null)).pipe(
          HttpServerResponse.unsafeSetCookie(Session.sessionCookie, cookie, {
            ...cookieOptions,
            maxAge: Math.max(0, exp - now)
          }),
          HttpServerResponse.expireCookie(Session.loginCookie, { path: "/inbox" }),
          HttpServerResponse.expireCookie("gatehouse_next", { path: "/inbox" })
        )
      }))
    )
    yield* router.post(
      "/inbox/sign-out",
      recover(Effect.gen(function*() {
        const viewer = yield* currentViewer
        const form = yield* readForm
        // The CSRF check comes first: a form without its token is refused (403) before its fields are read.
        if (Option.isSome(viewer) && !Session.checkCsrf(keys, `session:${viewer.value.sid}`, form.get("_csrf") ?? undefined)) {
          return forbiddenCsrf(viewer.value)
        }
        return seeOther("/inbox/sign-in").pipe(HttpServerResponse.expireCookie(Session.sessionCookie, { path: "/inbox" }))
      }))
    )

    // The inbox
    const listFor = (viewer: Pages.Viewer, query: typeof ListQuery.Type) => {
      const base = { limit: 20, ...(query.workflow !== undefined && query.workflow !== "" ? { workflow: query.workflow } : {}), ...(query.cursor !== undefined ? { cursor: query.cursor } : {}) }
      switch (query.status) {
        case "pending":
          return approvals.list({ ...base, reviewer: reviewerOf(viewer), order: "deadline" })
        case "mine":
          return approvals.list({ ...base, decidedBy: viewer.id })
        case "all":
          return approvals.list({
            ...base,
            status: "any",
            ...(isOperator(principalOf(viewer)) ? {} : { reviewer: reviewerOf(viewer) })
          })
      }
    }

    const inboxList = (viewer: Pages.Viewer, query: typeof ListQuery.Type) =>
      Effect.gen(function*() {
        const listed = yield* listFor(viewer, query)
        const now = yield* Clock.currentTimeMillis
        const rows = yield* Effect.forEach(listed.approvals, (summary) =>
          Effect.gen(function*() {
            const approval = yield* approvals.get({ runId: summary.runId, nodeId: summary.nodeId })
            const allowed = Approvals.allowedActions(approval, reviewerOf(viewer), now)
            return {
              approval,
              wait: approval.status === "waiting-approval" ? Waiting.approvalWait(approval) : undefined,
              canApprove: allowed.approve.allowed,
              canDeny: allowed.deny.allowed
            }
          }))
        const next = listed.cursor === undefined ? undefined : (() => {
          const params = new URLSearchParams()
          params.set("status", query.status)
          if (query.workflow !== undefined && query.workflow !== "") params.set("workflow", query.workflow)
          params.set("cursor", listed.cursor!)
          return `/inbox?${params.toString()}`
        })()
        return { html: Pages.inboxList({ rows, now, nextPage: next }), workflows: [...new Set(rows.map((row) => row.approval.workflow))] }
      })

    yield* router.get(
      "/inbox",
      recover(signedIn((viewer) =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const query = yield* Schema.decodeUnknown(ListQuery)(Object.fromEntries(queryOf(request)), {
            onExcessProperty: "ignore"
          }).pipe(Effect.mapError((error) => new BadForm(ParseResult.TreeFormatter.formatErrorSync(error))))
          // The stream's cursor first: whatever changes after it reaches the page, nothing is missed.
          const latest = yield* events.latest
          const list = yield* inboxList(viewer, query)
          if (query.partial === "1") return page(list.html)
          return page(Pages.inbox({
            viewer,
            status: query.status,
            workflow: query.workflow,
            workflows: list.workflows,
            list: list.html,
            liveUrl: `/inbox/events${latest === undefined ? "" : `?after=${encodeURIComponent(latest)}`}`
          }))
        })
      ))
    )

    yield* router.get("/inbox/decided", Effect.succeed(seeOther("/inbox?status=mine")))

    yield* router.get(
      "/inbox/events",
      recover(Effect.gen(function*() {
        const viewer = yield* currentViewer
        if (Option.isNone(viewer)) {
          return HttpServerResponse.text("sign in first", { status: 401, headers: { "cache-control": "no-store" } })
        }
        const request = yield* HttpServerRequest.HttpServerRequest
        const after = request.headers["last-event-id"] ?? queryOf(request).get("after") ?? undefined
        // A bad cursor is a 400 before the stream starts.
        yield* events.read({ ...(after !== undefined ? { after } : {}), limit: 1 })
        const settings = yield* StreamSettings
        const body = events.stream({ ...(after !== undefined ? { after } : {}), pollInterval: settings.pollInterval }).pipe(
          Stream.filter((event) => event.type.startsWith("approval.") || event.type.startsWith("run.")),
          // Only that something changed: the page reads what it may see itself.
          Stream.map((event) => `id: ${event.cursor}\nevent: change\ndata: ${JSON.stringify({ type: event.type })}\n\n`),
          Stream.merge(
            Stream.repeatEffectWithSchedule(Effect.succeed(": keep-alive\n\n"), Schedule.spaced(settings.keepAlive)),
            { haltStrategy: "left" }
          ),
          Stream.catchAll((error) => Stream.fromEffect(Effect.logWarning("inbox event stream ended", error)).pipe(Stream.drain)),
          Stream.encodeText
        )
        return HttpServerResponse.stream(Stream.concat(Stream.make(new TextEncoder().encode(": stream\n\n")), body), {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      }))
    )

    yield* router.post(
      "/inbox/bulk",
      recover(signedInPost((viewer, form) =>
        Effect.gen(function*() {
          const input = yield* decodeForm(BulkForm, form, ["item"])
          const items = input.item.map((item) => {
            const [runId, nodeId, requestHash] = item.split("/")
            const decode = (part: string | undefined) => {
              try {
                return decodeURIComponent(part ?? "")
              } catch {
                return ""
              }
            }
            return { runId: decode(runId), nodeId: decode(nodeId), requestHash: requestHash ?? "" }
          })
          const found = yield* Effect.forEach(items, (item) => Effect.option(approvals.get(item)))
          const records = found.filter(Option.isSome).map((record) => record.value)
          const kinds = new Set(records.map((record) => `${record.workflow}\n${record.baseId}`))
          if (records.length !== items.length || kinds.size !== 1) {
            return page(
              Pages.message({
                title: "Nothing decided",
                text: "Bulk decisions need approvals of the same kind (one workflow, one approval node). Nothing was decided.",
                viewer,
                back: { href: "/inbox", label: "Back to the inbox" }
              }),
              400
            )
          }
          const outcomes = yield* Effect.forEach(items, (item, i) =>
            approvals.decide({
              runId: item.runId,
              nodeId: item.nodeId,
              verdict: input.verdict,
              by: reviewerOf(viewer),
              requestHash: item.requestHash,
              ...(input.note !== undefined ? { note: input.note } : {})
            }).pipe(
              Effect.map((result) => `${records[i].title} (${item.runId}): ${result.status}`),
              Effect.catchIf(
                (error) => error._tag !== "StorageError",
                (error) => Effect.succeed(`${records[i].title} (${item.runId}): not recorded: ${error.message}`)
              )
            ))
          return page(Pages.message({
            title: `${input.verdict === "approve" ? "Approved" : "Denied"} ${items.length} approvals`,
            text: outcomes.join("; "),
            viewer,
            back: { href: "/inbox", label: "Back to the inbox" }
          }))
        })
      ))
    )

    // Action links: GET shows, POST decides.
    const linkRefused = (error: ActionLinks.ActionLinkRefused | Approvals.InvalidDecision) =>
      page(
        Pages.message({
          title: "This link cannot be used",
          text: `${error.message} Nothing was decided. Open the inbox to see the request as it is now.`,
          back: { href: "/inbox", label: "Open the inbox" }
        }),
        error._tag === "ActionLinkRefused" && error.reason === "unknown" ? 404 : 410
      )

    yield* router.get(
      "/inbox/links/:token",
      recover(Effect.gen(function*() {
        const token = (yield* HttpRouter.params).token ?? ""
        const link = yield* links.inspect(token).pipe(Effect.either)
        if (link._tag === "Left") {
          return link.left._tag === "ActionLinkRefused" ? linkRefused(link.left) : yield* Effect.fail(link.left)
        }
        return page(Pages.linkConfirm({
          link: link.right,
          token,
          csrf: Session.csrfFor(keys, `link:${token}`),
          fields: fieldsOf(link.right.approval.decisionSchema),
          now: yield* Clock.currentTimeMillis
        }))
      }))
    )
    yield* router.post(
      "/inbox/links/:token",
      recover(Effect.gen(function*() {
        const token = (yield* HttpRouter.params).token ?? ""
        const form = yield* readForm
        if (!Session.checkCsrf(keys, `link:${token}`, form.get("_csrf") ?? undefined)) return forbiddenCsrf()
        const input = yield* decodeForm(LinkForm, form)
        const link = yield* links.inspect(token).pipe(Effect.either)
        if (link._tag === "Left") {
          return link.left._tag === "ActionLinkRefused" ? linkRefused(link.left) : yield* Effect.fail(link.left)
        }
        const fields = fieldsOf(link.right.approval.decisionSchema)
        const payload = link.right.verdict === "approve" ? payloadOf(fields, form) : undefined
        const now = yield* Clock.currentTimeMillis
        if (payload !== undefined && "error" in payload) {
          return page(Pages.linkConfirm({ link: link.right, token, csrf: form.get("_csrf")!, fields, error: payload.error, now }), 400)
        }
        const result = yield* links.redeem({
          token,
          ...(input.note !== undefined ? { note: input.note } : {}),
          ...(payload !== undefined ? { payload: payload.payload } : {})
        }).pipe(Effect.either)
        if (result._tag === "Left") {
          const error = result.left
          if (error._tag === "InvalidDecision") {
            return page(
              Pages.linkConfirm({ link: link.right, token, csrf: form.get("_csrf")!, fields, error: error.message, now }),
              400
            )
          }
          return error._tag === "ActionLinkRefused" ? linkRefused(error) : yield* Effect.fail(error)
        }
        const verb = link.right.verdict === "approve" ? "Approved" : "Denied"
        return page(Pages.message({
          title: result.right.status === "vote-recorded" ? "Vote recorded" : verb,
          text: `${verb}: ${link.right.approval.title} (${result.right.status}). You can close this page.`,
          back: { href: Pages.approvalPath(link.right.runId, link.right.nodeId), label: "See the approval" }
        }))
      }))
    )

    // A run
    yield* router.get(
      "/inbox/runs/:runId",
      recover(signedIn((viewer) =>
        Effect.gen(function*() {
          const runId = (yield* HttpRouter.params).runId ?? ""
          const inspection = yield* workflows.inspect(runId)
          const principal = principalOf(viewer)
          let allowed = isOperator(principal) || inspection.run.startedBy === viewer.id
          for (const node of inspection.nodes) {
            if (allowed) break
            if (node.kind !== "approval") continue
            const approval = yield* Effect.option(approvals.get({ runId, nodeId: node.nodeId }))
            if (Option.isSome(approval) && mayRead(viewer, approval.value)) allowed = true
          }
          if (!allowed) return notFound(viewer)
          return page(Pages.runPage({
            viewer,
            inspection,
            audit: yield* Audit.forRun(runId),
            verification: yield* Audit.verify,
            now: yield* Clock.currentTimeMillis
          }))
        })
      ))
    )

    // An approval
    yield* router.get(
      "/inbox/:runId/:nodeId",
      recover(signedIn((viewer) =>
        Effect.gen(function*() {
          const params = yield* HttpRouter.params
          const approval = yield* approvals.get({ runId: params.runId ?? "", nodeId: params.nodeId ?? "" })
          if (!mayRead(viewer, approval)) return notFound(viewer)
          const result = queryOf(yield* HttpServerRequest.HttpServerRequest).get("result")
          const banner = result === "decided"
            ? { kind: "done" as const, text: "Your decision was recorded." }
            : result === "vote-recorded"
            ? { kind: "done" as const, text: "Your vote was recorded; more approvals are needed." }
            : result === "already-decided"
            ? { kind: "done" as const, text: "This decision was already recorded." }
            : undefined
          return page(yield* renderApproval(viewer, approval, { banner }))
        })
      ))
    )
    yield* router.post(
      "/inbox/:runId/:nodeId",
      recover(signedInPost((viewer, form) =>
        Effect.gen(function*() {
          const params = yield* HttpRouter.params
          const address = { runId: params.runId ?? "", nodeId: params.nodeId ?? "" }
          const input = yield* decodeForm(DecisionForm, form)
          const current = yield* approvals.get(address)
          if (!mayRead(viewer, current)) return notFound(viewer)
          const values = valuesOf(form)
          const again = (status: number, banner: { kind: "stale" | "error"; text: string }, approval = current) =>
            Effect.map(
              renderApproval(viewer, approval, {
                banner,
                ...(banner.kind === "stale" ? {} : { values, note: input.note })
              }),
              (body) => page(body, status)
            )
          const fields = fieldsOf(current.decisionSchema)
          const payload = input.verdict === "approve" ? payloadOf(fields, form) : undefined
          if (payload !== undefined && "error" in payload) return yield* again(400, { kind: "error", text: payload.error })
          const result = yield* approvals.decide({
            ...address,
            verdict: input.verdict,
            by: reviewerOf(viewer),
            requestHash: input.requestHash,
            ...(input.note !== undefined ? { note: input.note } : {}),
            ...(payload !== undefined ? { payload: payload.payload } : {})
          }).pipe(Effect.either)
          if (result._tag === "Right") {
            return seeOther(
              `${Pages.approvalPath(result.right.approval.runId, result.right.approval.nodeId)}?result=${result.right.status}`
            )
          }
          const error = result.left
          switch (error._tag) {
            case "StaleApproval":
              return yield* again(409, {
                kind: "stale",
                text: "This request changed since you opened it. Nothing was recorded. Review the new content below and decide again."
              })
            case "InvalidDecision":
              return yield* again(400, { kind: "error", text: `Nothing was recorded: ${error.reason}` })
            case "NotAuthorized":
              return yield* again(403, { kind: "error", text: `Nothing was recorded: ${error.reason}` })
            case "DecisionConflict":
            case "PolicyChanged":
              return yield* again(409, { kind: "error", text: `Nothing was recorded: ${error.message}` })
            default:
              return yield* Effect.fail(error)
          }
        })
      ))
    )

  })
