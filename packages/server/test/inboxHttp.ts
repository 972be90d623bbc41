import { assert, describe, it } from "@effect/vitest"
import { ActionLinks, Approvals, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { Deploy, type Engine, eventually, Refund, type Running, serve, tokens } from "./utils/fixtures.js"

const cookiesOf = (response: Response): Record<string, string> =>
  Object.fromEntries(response.headers.getSetCookie().map((cookie) => {
    const [pair] = cookie.split(";")
    const at = pair.indexOf("=")
    return [pair.slice(0, at), pair.slice(at + 1)]
  }))

const cookieHeader = (cookies: Record<string, string>) =>
  Object.entries(cookies).map(([name, value]) => `${name}=${value}`).join("; ")

const csrfIn = (body: string): string => /name="_csrf" value="([^"]+)"/.exec(body)![1]

/** Signs in over plain HTTP as a browser would: the sign-in page's cookie and CSRF token, then the POST. */
const signIn = (server: Running, token: string, next?: string) =>
  Effect.gen(function*() {
    const form = yield* server.fetch(
      next === undefined ? "/inbox/sign-in" : `/inbox/sign-in?${new URLSearchParams({ next }).toString()}`
    )
    const login = cookiesOf(form)
    const posted = yield* server.fetch("/inbox/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: { cookie: cookieHeader(login), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: csrfIn(yield* Effect.promise(() => form.text())), token }).toString()
    })
    return { response: posted, cookies: cookiesOf(posted) }
  })

/** The inbox over HTTP, on one dialect: sessions across server processes, refusals, headers. */
export const suite = (name: string, makeEngine: Effect.Effect<Engine, unknown, Scope.Scope>) =>
  describe(name, () => {
    it.live("a session signed by one server process is honored by another with the same key, not by one without it", () =>
      Effect.gen(function*() {
        const engine = yield* makeEngine
        const sessionKey = Redacted.make("a-shared-session-key-for-every-process")
        // Two servers with their own engines (pools, runners) on one database: two processes.
        const first = yield* serve(engine, { inbox: { sessionKey } })
        const second = yield* serve(engine, { inbox: { sessionKey } })
        const stranger = yield* serve(engine, {})
        const runId = yield* Refund.start({ ticketId: "T-http-1", amount: 30 }).pipe(Effect.provide(first.context))
        yield* eventually(
          Effect.flatMap(Workflows.Workflows, (workflows) => workflows.poll(runId)).pipe(
            Effect.provide(first.context),
            Effect.filterOrFail((run) => run.status === "waiting-approval", () => "not waiting yet")
          )
        )

        const { cookies, response } = yield* signIn(first, tokens.grace)
        assert.strictEqual(response.status, 303)
        assert.strictEqual(response.headers.get("location"), "/inbox")
        const setCookie = response.headers.getSetCookie().find((cookie) => cookie.startsWith("gatehouse_session="))!
        assert.match(setCookie, /HttpOnly/i)
        assert.match(setCookie, /SameSite=Lax/i)
        assert.match(setCookie, /Path=\/inbox/)
        const session = { cookie: `gatehouse_session=${cookies.gatehouse_session}` }

        const onSecond = yield* second.fetch("/inbox", { headers: session, redirect: "manual" })
        assert.strictEqual(onSecond.status, 200)
        const body = yield* Effect.promise(() => onSecond.text())
        assert.include(body, "Refund 30?")
        assert.include(onSecond.headers.get("content-security-policy") ?? "", "script-src 'self'")
        assert.strictEqual(onSecond.headers.get("referrer-policy"), "no-referrer")

        const onStranger = yield* stranger.fetch("/inbox", { headers: session, redirect: "manual" })
        assert.strictEqual(onStranger.status, 303)
        assert.match(onStranger.headers.get("location") ?? "", /^\/inbox\/sign-in/)

        // The CSRF token of the session works on the other process too: the decision is recorded there.
        const page = yield* second.fetch(`/inbox/${runId}/refund-decision`, { headers: session })
        const html = yield* Effect.promise(() => page.text())
        const hash = /name="requestHash" value="([0-9a-f]{64})"/.exec(html)![1]
        const decided = yield* first.fetch(`/inbox/${runId}/refund-decision`, {
          method: "POST",
          redirect: "manual",
          headers: { ...session, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ _csrf: csrfIn(html), requestHash: hash, verdict: "deny", note: "no" }).toString()
        })
        assert.strictEqual(decided.status, 303)
        const approval = yield* Effect.flatMap(Approvals.Approvals, (approvals) =>
          approvals.get({ runId, nodeId: "refund-decision" })).pipe(Effect.provide(first.context))
        assert.strictEqual(approval.status, "denied")
      }).pipe(Effect.scoped), { timeout: 120_000 })

    it.live("a bad token does not sign in; forms without their token and unknown links are refused", () =>
      Effect.gen(function*() {
        const server = yield* Effect.flatMap(makeEngine, (engine) => serve(engine))
        const bad = yield* signIn(server, "not-a-token")
        assert.strictEqual(bad.response.status, 401)
        assert.isUndefined(bad.cookies.gatehouse_session)
        const noCsrf = yield* server.fetch("/inbox/sign-in", {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ token: tokens.grace }).toString()
        })
        assert.strictEqual(noCsrf.status, 403)
        assert.deepStrictEqual(noCsrf.headers.getSetCookie(), [])

        const runId = yield* Refund.start({ ticketId: "T-http-2", amount: 30 }).pipe(Effect.provide(server.context))
        yield* eventually(
          Effect.flatMap(Workflows.Workflows, (workflows) => workflows.poll(runId)).pipe(
            Effect.provide(server.context),
            Effect.filterOrFail((run) => run.status === "waiting-approval", () => "not waiting yet")
          )
        )
        const { token } = yield* Effect.flatMap(ActionLinks.ActionLinks, (links) =>
          links.mint({ runId, nodeId: "refund-decision", reviewer: { id: "grace", roles: ["finance"] }, verdict: "deny" })).pipe(
            Effect.provide(server.context)
          )
        const forged = yield* server.fetch(`/inbox/links/${token}`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: "note=scanner"
        })
        assert.strictEqual(forged.status, 403)
        const unknown = yield* server.fetch(`/inbox/links/${"A".repeat(43)}`)
        assert.strictEqual(unknown.status, 404)
        assert.include(yield* Effect.promise(() => unknown.text()), "This link is not valid.")
        const approval = yield* Effect.flatMap(Approvals.Approvals, (approvals) =>
          approvals.get({ runId, nodeId: "refund-decision" })).pipe(Effect.provide(server.context))
        assert.strictEqual(approval.status, "waiting-approval")
        // An unauthenticated page request goes to the sign-in page; the event stream is 401.
        const anonymous = yield* server.fetch(`/inbox/${runId}/refund-decision`, { redirect: "manual" })
        assert.strictEqual(anonymous.status, 303)
        assert.strictEqual((yield* server.fetch("/inbox/events")).status, 401)
      }).pipe(Effect.scoped), { timeout: 120_000 })
  
    it.live("sign-in with a control character in next goes to the inbox (not an empty 500); sign-out without its token is 403", () =>
      Effect.gen(function*() {
        const server = yield* Effect.flatMap(makeEngine, (engine) => serve(engine))
        for (const next of ["/inbox\u0001", "/inbox/x\r\nSet-Cookie: a=b", "/inbox?q=\u007f", "/inbox/a b", "/inbox\\evil"]) {
          const { cookies, response } = yield* signIn(server, tokens.grace, next)
          assert.strictEqual(response.status, 303, JSON.stringify(next))
          assert.strictEqual(response.headers.get("location"), "/inbox", JSON.stringify(next))
          assert.isDefined(cookies.gatehouse_session)
        }
        // A safe next is still honored.
        const kept = yield* signIn(server, tokens.grace, "/inbox?status=mine")
        assert.strictEqual(kept.response.headers.get("location"), "/inbox?status=mine")

        const session = { cookie: `gatehouse_session=${kept.cookies.gatehouse_session}` }
        const form = { "content-type": "application/x-www-form-urlencoded" }
        for (const body of ["", "_csrf=", `_csrf=${"x".repeat(43)}`]) {
          const refused = yield* server.fetch("/inbox/sign-out", {
            method: "POST",
            redirect: "manual",
            headers: { ...session, ...form },
            body
          })
          assert.strictEqual(refused.status, 403, JSON.stringify(body))
          assert.deepStrictEqual(refused.headers.getSetCookie(), [])
        }
        // The session still works, and signing out with the token ends it.
        const inbox = yield* server.fetch("/inbox", { headers: session, redirect: "manual" })
        assert.strictEqual(inbox.status, 200)
        const csrf = csrfIn(yield* Effect.promise(() => inbox.text()))
        const out = yield* server.fetch("/inbox/sign-out", {
          method: "POST",
          redirect: "manual",
          headers: { ...session, ...form },
          body: new URLSearchParams({ _csrf: csrf }).toString()
        })
        assert.strictEqual(out.status, 303)
        assert.strictEqual(out.headers.get("location"), "/inbox/sign-in")
      }).pipe(Effect.scoped), { timeout: 120_000 })

    it.live("the list pages by cursor (nearest deadline first) and filters by workflow", () =>
      Effect.gen(function*() {
        const server = yield* Effect.flatMap(makeEngine, (engine) => serve(engine))
        const runIds = yield* Effect.forEach(
          Array.from({ length: 21 }, (_, i) => i),
          (i) => Refund.start({ ticketId: `T-page-${String(i).padStart(2, "0")}`, amount: i + 1 }),
          { concurrency: 4 }
        ).pipe(Effect.provide(server.context))
        yield* eventually(
          Effect.flatMap(Approvals.Approvals, (approvals) => approvals.list({ limit: 50 })).pipe(
            Effect.provide(server.context),
            Effect.filterOrFail((page) => page.approvals.length === runIds.length, () => "not all requested yet")
          )
        )
        const { cookies } = yield* signIn(server, tokens.grace)
        const headers = { cookie: `gatehouse_session=${cookies.gatehouse_session}` }
        const text = (path: string) =>
          Effect.flatMap(server.fetch(path, { headers }), (response) => Effect.promise(() => response.text()))
        const rows = (body: string) => [...body.matchAll(/<tr data-run="([^"]+)"/g)].map((match) => match[1])
        const first = yield* text("/inbox")
        assert.strictEqual(rows(first).length, 20)
        const next = /<a href="([^"]+)" rel="next">Next page<\/a>/.exec(first)![1].replaceAll("&amp;", "&")
        const second = yield* text(next)
        assert.strictEqual(rows(second).length, 1)
        assert.notInclude(second, "Next page")
        assert.sameMembers([...rows(first), ...rows(second)], [...runIds])
        const partial = yield* text("/inbox?workflow=refund&partial=1")
        assert.notInclude(partial, "<html")
        assert.strictEqual(rows(partial).length, 20)
        const other = yield* text("/inbox?workflow=nothing-by-that-name")
        assert.include(other, "Nothing here.")
        // A gated step's approval node id has a slash: its page is addressed with it encoded.
        const deployId = yield* Deploy.start({ version: "2.0.0" }).pipe(Effect.provide(server.context))
        yield* eventually(
          Effect.flatMap(Workflows.Workflows, (workflows) => workflows.poll(deployId)).pipe(
            Effect.provide(server.context),
            Effect.filterOrFail((run) => run.status === "waiting-approval", () => "not waiting yet")
          )
        )
        assert.include(yield* text("/inbox?workflow=deploy"), `/inbox/${deployId}/ship%2Fapproval`)
        assert.include(yield* text(`/inbox/${deployId}/ship%2Fapproval`), "Ship 2.0.0?")
        const bad = yield* server.fetch("/inbox?status=everything", { headers })
        assert.strictEqual(bad.status, 400)
        assert.include(yield* Effect.promise(() => bad.text()), "status")
      }).pipe(Effect.scoped), { timeout: 120_000 })
  })
