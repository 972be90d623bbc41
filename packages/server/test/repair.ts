/**
 * Repairing runs over HTTP (issue 21): `POST /v1/runs/{runId}/resume` and `POST /v1/runs/{runId}/fork`,
 * operators only, with the engine's errors as statuses, and the inbox's pages of a repaired run. One
 * dialect per file (repair.sqlite.test.ts, repair.pg.test.ts).
 */
import { assert, describe, it } from "@effect/vitest"
import { Approval, Gatehouse, GatehouseTest, Run, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import { tempDir } from "@gatehouse/test-utils/Database"
import { databaseUrl, type Engine, eventually, type Running, serve, tokens } from "./utils/fixtures.js"

/** The payment provider is down for the payouts named here. */
const down = new Set<string>()
/** The amount the code asks about now, when it differs from the payload's (the request changed). */
const quotes = new Map<string, number>()

class ProviderDown extends Schema.TaggedError<ProviderDown>()("ProviderDown", {}) {}

/** An approval by finance (grace), then a payment that fails while the provider is down. */
const Payout = Workflow.make({
  name: "repair-payout",
  payload: Schema.Struct({ id: Schema.String, amount: Schema.Number }),
  success: Schema.Number,
  error: ProviderDown,
  idempotencyKey: (payload) => payload.id
})

const PayoutLive = Payout.toLayer((payload) =>
  Effect.gen(function*() {
    const amount = quotes.get(payload.id) ?? payload.amount
    yield* Approval.request("approve-payout", {
      title: `Pay ${amount}?`,
      metadata: { amount },
      reviewers: { roles: ["finance"] }
    })
    return yield* Step.run(
      "pay",
      Effect.suspend(() => down.has(payload.id) ? Effect.fail(new ProviderDown()) : Effect.succeed(amount)),
      { success: Schema.Number, error: ProviderDown }
    )
  })
)

export const sqlite: Effect.Effect<Engine, never, Scope.Scope> = Effect.map(tempDir("gatehouse-repair-"), (dir) =>
  Gatehouse.layerSqlite({ filename: path.join(dir, "gatehouse.db"), workflows: PayoutLive, pollInterval: "200 millis" }) as Engine)

export const pg: Effect.Effect<Engine, unknown, Scope.Scope> = Effect.map(
  GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_repair" }),
  ({ url }) => Gatehouse.layerPg({ url, workflows: PayoutLive, pollInterval: "200 millis", maxConnections: 8 }) as Engine
)

/** A response's status and JSON body (its text when it is not JSON, so a failed assertion shows it). */
const answer = (response: Response) =>
  Effect.map(Effect.promise(() => response.text()), (text): { status: number; body: any } => {
    try {
      return { status: response.status, body: JSON.parse(text) }
    } catch {
      return { status: response.status, body: text }
    }
  })

const post = (server: Running, route: string, token: string, body: unknown) =>
  Effect.flatMap(
    server.fetch(route, {
      method: "POST",
      token,
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    }),
    answer
  )

const runOf = (server: Running, runId: string) =>
  Effect.flatMap(server.client(tokens.operator), (operator) => operator.runs.get({ path: { runId } }))

const waitForStatus = (server: Running, runId: string, status: Run.RunStatus) =>
  eventually(runOf(server, runId).pipe(Effect.filterOrFail((run) => run.status === status, (run) => `${runId} is ${run.status}`)))

/** Starts a payout whose payment fails, lets grace approve it over HTTP, and waits for it to fail. */
const failedPayout = (server: Running) =>
  Effect.gen(function*() {
    const id = `P-${randomUUID().slice(0, 8)}`
    down.add(id)
    const operator = yield* server.client(tokens.operator)
    const grace = yield* server.client(tokens.grace)
    const { runId } = yield* operator.runs.start({ path: { name: "repair-payout" }, payload: { payload: { id, amount: 40 } }, headers: {} })
    yield* waitForStatus(server, runId, "waiting-approval")
    yield* grace.approvals.decide({ path: { runId, nodeId: "approve-payout" }, headers: {}, payload: { verdict: "approve", note: "ok" } })
    yield* waitForStatus(server, runId, "failed")
    return { id, runId }
  })

const cookiesOf = (response: Response): string =>
  response.headers.getSetCookie().map((cookie) => cookie.split(";")[0]).join("; ")

/** Signs in to the inbox as a browser would, and returns the session's cookie header. */
const signIn = (server: Running, token: string) =>
  Effect.gen(function*() {
    const form = yield* server.fetch("/inbox/sign-in")
    const csrf = /name="_csrf" value="([^"]+)"/.exec(yield* Effect.promise(() => form.text()))![1]
    const posted = yield* server.fetch("/inbox/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: { cookie: cookiesOf(form), "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _csrf: csrf, token }).toString()
    })
    assert.strictEqual(posted.status, 303)
    return cookiesOf(posted)
  })

export const suite = (name: string, makeEngine: Effect.Effect<Engine, unknown, Scope.Scope>) =>
  describe(name, () => {
    const setup = Effect.flatMap(makeEngine, (engine) => serve(engine))

    it.live("resume: operators only, 409 unless failed or canceled, 400 naming the field; a failed run resumed completes without a new decision", () =>
      Effect.gen(function*() {
        const server = yield* setup
        const operator = yield* server.client(tokens.operator)
        const grace = yield* server.client(tokens.grace)

        // A run waiting for its approval is not resumable: 409, nothing changed.
        const { runId: waiting } = yield* operator.runs.start({
          path: { name: "repair-payout" },
          payload: { payload: { id: `W-${randomUUID().slice(0, 8)}`, amount: 1 } },
          headers: {}
        })
        yield* waitForStatus(server, waiting, "waiting-approval")
        const notYet = yield* post(server, `/v1/runs/${waiting}/resume`, tokens.operator, { reason: "too early" })
        assert.deepStrictEqual(notYet, { status: 409, body: { _tag: "RunNotResumable", runId: waiting, status: "waiting-approval" } })
        const typed = yield* operator.runs.resume({ path: { runId: waiting }, payload: { reason: "too early" } }).pipe(Effect.flip)
        assert.strictEqual(typed._tag, "RunNotResumable")

        const { id, runId } = yield* failedPayout(server)

        // A reviewer may not resume (403), whatever the body; an unknown run is 404; bad bodies are 400.
        assert.strictEqual((yield* post(server, `/v1/runs/${runId}/resume`, tokens.grace, { reason: "mine" })).status, 403)
        const forbidden = yield* Effect.either(grace.runs.resume({ path: { runId }, payload: { reason: "mine" } }))
        assert.isTrue(Either.isLeft(forbidden) && forbidden.left._tag === "Forbidden")
        assert.strictEqual((yield* post(server, `/v1/runs/${runId}/resume`, tokens.starter, { reason: "mine" })).status, 403)
        const missing = yield* post(server, "/v1/runs/no-such-run/resume", tokens.operator, { reason: "x" })
        assert.deepStrictEqual([missing.status, missing.body._tag], [404, "RunNotFound"])
        const noReason = yield* post(server, `/v1/runs/${runId}/resume`, tokens.operator, {})
        assert.strictEqual(noReason.status, 400)
        assert.include(JSON.stringify(noReason.body), "reason")
        const emptyReason = yield* post(server, `/v1/runs/${runId}/resume`, tokens.operator, { reason: "  " })
        assert.deepStrictEqual([emptyReason.status, emptyReason.body._tag], [400, "InvalidRequest"])
        assert.include(emptyReason.body.reason, "reason")
        assert.deepStrictEqual(
          [(yield* runOf(server, runId)).status, (yield* runOf(server, runId)).repairs],
          ["failed", 0]
        )

        // The provider is back: the operator resumes, the payment runs again, grace is not asked again.
        down.delete(id)
        const resumed = yield* operator.runs.resume({ path: { runId }, payload: { reason: "provider is back" } })
        assert.strictEqual(resumed.status, "resumed")
        assert.deepStrictEqual([...resumed.rerun].sort(), ["approve-payout", "pay"])
        assert.strictEqual(resumed.run.repairs, 1)
        const done = yield* waitForStatus(server, runId, "completed")
        assert.deepStrictEqual(done.result, { _tag: "Success", value: 40 })
        const approval = yield* grace.approvals.get({ path: { runId, nodeId: "approve-payout" } })
        assert.strictEqual(approval.status, "approved")
        assert.strictEqual((approval.decision as { decidedBy?: string }).decidedBy, "grace")
        assert.isUndefined(approval.previous)
        const timeline = yield* operator.runs.timeline({ path: { runId } })
        assert.strictEqual(timeline.events.filter((event) => event.type === "approval.decided").length, 1)
        const resumedEvent = timeline.events.find((event) => event.type === "run.resumed")
        assert.strictEqual(resumedEvent?.actor, "olivia")
        const actions = (yield* operator.audit.forRun({ path: { runId } })).entries.map((entry) => entry.action)
        assert.includeMembers(actions, ["run.resumed", "approval.reused"])
        assert.notInclude(actions.slice(actions.indexOf("run.resumed")), "approval.requested")

        // A completed run is not resumable either.
        const again = yield* post(server, `/v1/runs/${runId}/resume`, tokens.operator, { reason: "again" })
        assert.deepStrictEqual(again, { status: 409, body: { _tag: "RunNotResumable", runId, status: "completed" } })
        assert.strictEqual((yield* runOf(server, runId)).repairs, 1)
      }).pipe(Effect.scoped))

    it.live("fork: operators only, 400 naming fromNode or the payload's field, 404 for a workflow it cannot validate; a fork links both ways", () =>
      Effect.gen(function*() {
        const server = yield* setup
        const operator = yield* server.client(tokens.operator)
        const grace = yield* server.client(tokens.grace)
        const { id, runId } = yield* failedPayout(server)
        const route = `/v1/runs/${runId}/fork`

        assert.strictEqual((yield* post(server, route, tokens.grace, { reason: "mine", fromNode: "pay" })).status, 403)
        const forbidden = yield* Effect.either(grace.runs.fork({ path: { runId }, payload: { reason: "mine" } }))
        assert.isTrue(Either.isLeft(forbidden) && forbidden.left._tag === "Forbidden")
        const unknownNode = yield* post(server, route, tokens.operator, { reason: "redo", fromNode: "nope" })
        assert.deepStrictEqual([unknownNode.status, unknownNode.body._tag], [400, "InvalidRequest"])
        assert.match(unknownNode.body.reason, /^fromNode: /)
        const badPayload = yield* post(server, route, tokens.operator, { reason: "redo", payload: { id, amount: "ten" } })
        assert.deepStrictEqual([badPayload.status, badPayload.body._tag], [400, "InvalidPayload"])
        assert.include(badPayload.body.reason, "amount")
        const noReason = yield* post(server, route, tokens.operator, { fromNode: "pay" })
        assert.strictEqual(noReason.status, 400)
        assert.include(JSON.stringify(noReason.body), "reason")
        const missing = yield* post(server, "/v1/runs/no-such-run/fork", tokens.operator, { reason: "x" })
        assert.deepStrictEqual([missing.status, missing.body._tag], [404, "RunNotFound"])
        // Refused: the origin has no fork.
        assert.isUndefined((yield* runOf(server, runId)).forks)

        // A run of a workflow this server's process does not know: a new payload cannot be validated.
        const ghost = Run.RunId.make(`ghost-${randomUUID().slice(0, 8)}`)
        yield* Effect.flatMap(Workflows.Workflows, (workflows) =>
          workflows.start({ runId: ghost, workflow: "repair-ghost", idempotencyKey: undefined, payload: {}, startedBy: "olivia" })).pipe(
            Effect.provide(server.context)
          )
        const unknownWorkflow = yield* post(server, `/v1/runs/${ghost}/fork`, tokens.operator, { reason: "x", payload: {} })
        assert.deepStrictEqual(unknownWorkflow, { status: 404, body: { _tag: "WorkflowNotFound", workflow: "repair-ghost" } })
        assert.isUndefined((yield* runOf(server, ghost)).forks)

        // From the payment: the approval before it is reused, the payment runs again; the origin stays failed.
        down.delete(id)
        const forked = yield* operator.runs.fork({ path: { runId }, payload: { reason: "provider is back", fromNode: "pay" } })
        assert.strictEqual(forked.runId, `${runId}.fork-1`)
        assert.deepStrictEqual(forked.run.forkedFrom, { runId, nodeId: "pay" })
        const done = yield* waitForStatus(server, forked.runId, "completed")
        assert.deepStrictEqual(done.result, { _tag: "Success", value: 40 })
        assert.strictEqual((yield* grace.approvals.get({ path: { runId: forked.runId, nodeId: "approve-payout" } })).status, "approved")
        const origin = yield* runOf(server, runId)
        assert.strictEqual(origin.status, "failed")
        assert.deepStrictEqual(origin.forks, [forked.runId])
        const events = (yield* operator.runs.timeline({ path: { runId } })).events
        assert.isTrue(events.some((event) => event.type === "run.forked" && event.actor === "olivia"))

        // From the start, with a new payload: a second fork, listed after the first.
        const fresh = yield* post(server, route, tokens.operator, { reason: "new amount", payload: { id, amount: 41 } })
        assert.strictEqual(fresh.status, 200)
        assert.strictEqual(fresh.body.runId, `${runId}.fork-2`)
        assert.deepStrictEqual(fresh.body.run.forkedFrom, { runId, nodeId: "" })
        assert.deepStrictEqual(fresh.body.run.payload, { id, amount: 41 })
        assert.deepStrictEqual((yield* runOf(server, runId)).forks, [forked.runId, fresh.body.runId])
      }).pipe(Effect.scoped))

    it.live("the inbox: a run page links its origin and its forks; an approval asked again shows the earlier decision and why", () =>
      Effect.gen(function*() {
        const server = yield* setup
        const operator = yield* server.client(tokens.operator)
        const grace = yield* server.client(tokens.grace)
        const { id, runId } = yield* failedPayout(server)
        down.delete(id)
        const forked = yield* operator.runs.fork({ path: { runId }, payload: { reason: "redo", fromNode: "pay" } })
        yield* waitForStatus(server, forked.runId, "completed")
        // The code asks about another amount now: the decision does not hold, grace is asked again.
        quotes.set(id, 45)
        yield* operator.runs.resume({ path: { runId }, payload: { reason: "retry" } })
        const asked = yield* eventually(
          grace.approvals.get({ path: { runId, nodeId: "approve-payout" } }).pipe(
            Effect.filterOrFail((approval) => approval.status === "waiting-approval", () => "not asked again yet")
          )
        )
        assert.strictEqual(asked.previous?.decidedBy, "grace")
        assert.deepStrictEqual(asked.previous?.reasons, ["the request changed"])

        const cookie = yield* signIn(server, tokens.grace)
        const page = (route: string) =>
          Effect.flatMap(server.fetch(route, { headers: { cookie } }), (response) =>
            Effect.map(Effect.promise(() => response.text()), (body) => ({ status: response.status, body })))
        const origin = yield* page(`/inbox/runs/${runId}`)
        assert.strictEqual(origin.status, 200)
        assert.match(origin.body, new RegExp(`<dt>Forks</dt><dd><a href="/inbox/runs/${forked.runId}">${forked.runId}</a></dd>`))
        assert.include(origin.body, "<dt>Resumed</dt><dd>1 time</dd>")
        const fork = yield* page(`/inbox/runs/${forked.runId}`)
        assert.strictEqual(fork.status, 200)
        assert.include(fork.body, `<dt>Forked from</dt><dd><a href="/inbox/runs/${runId}">${runId}</a> (from node <code>pay</code>)</dd>`)
        const approvalPage = yield* page(`/inbox/${runId}/approve-payout`)
        assert.strictEqual(approvalPage.status, 200)
        assert.match(approvalPage.body, /<strong>Asked again:<\/strong> approved by grace <time [^>]+>[^<]+<\/time> \("ok"\); the request changed\./)

        yield* grace.approvals.decide({ path: { runId, nodeId: "approve-payout" }, headers: {}, payload: { verdict: "approve" } })
        const done = yield* waitForStatus(server, runId, "completed")
        assert.deepStrictEqual(done.result, { _tag: "Success", value: 45 })
      }).pipe(Effect.scoped))
  })
