import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Approvals } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import { type Engine, eventually, serve, tokens } from "./utils/fixtures.js"

/** The HTTP decision flow and its error statuses, on one dialect. */
export const suite = (name: string, makeEngine: Effect.Effect<Engine, unknown, Scope.Scope>) =>
  describe(name, () => {
    const setup = Effect.flatMap(makeEngine, (engine) => serve(engine))

    it.live("start → inbox → decide → the run resumes → timeline and audit", () =>
      Effect.gen(function*() {
        const server = yield* setup
        const operator = yield* server.client(tokens.operator)
        const grace = yield* server.client(tokens.grace)

        const started = yield* operator.runs.start({ path: { name: "refund" }, payload: { payload: { ticketId: "T-1", amount: 40 } }, headers: {} })
        assert.isTrue(started.created)
        const again = yield* operator.runs.start({ path: { name: "refund" }, payload: { payload: { ticketId: "T-1", amount: 40 } }, headers: {} })
        assert.deepStrictEqual([again.created, again.runId], [false, started.runId])

        const inbox = yield* eventually(
          grace.approvals.inbox({ urlParams: {} }).pipe(
            Effect.filterOrFail((page) => page.approvals.length === 1, () => "not yet requested")
          )
        )
        const item = inbox.approvals[0]
        assert.strictEqual(item.runId, started.runId)
        assert.strictEqual(item.title, "Refund 40?")
        assert.isDefined(item.deadline)
        for (const order of ["newest", "deadline"] as const) {
          const ordered = yield* grace.approvals.inbox({ urlParams: { order } })
          assert.deepStrictEqual(ordered.approvals.map((approval) => approval.runId), [started.runId])
        }
        assert.strictEqual((yield* server.fetch("/v1/approvals?order=oldest", { token: tokens.grace })).status, 400)
        // A cursor this API did not return: 400, a typed InvalidCursor naming the cursor, by HTTP and by the client.
        const badCursor = yield* server.fetch("/v1/approvals?cursor=not-a-cursor", { token: tokens.grace })
        assert.strictEqual(badCursor.status, 400)
        const badCursorBody: any = yield* Effect.promise(() => badCursor.json())
        assert.deepStrictEqual([badCursorBody._tag, badCursorBody.cursor], ["InvalidCursor", "not-a-cursor"])
        const badCursorError = yield* grace.approvals.inbox({ urlParams: { cursor: "not-a-cursor" } }).pipe(Effect.flip)
        assert.strictEqual(badCursorError._tag, "InvalidCursor")
        assert.include(badCursorError.message, "cursor")

        const raw = yield* server.fetch(`/v1/runs/${started.runId}/approvals/refund-decision`, { token: tokens.grace })
        assert.strictEqual(raw.status, 200)
        assert.strictEqual(raw.headers.get("etag"), `"${item.requestHash}"`)

        const decided = yield* grace.approvals.decide({
          path: { runId: started.runId, nodeId: "refund-decision" },
          headers: { "if-match": `"${item.requestHash}"` },
          payload: { verdict: "approve", note: "fine", payload: { approvedAmount: 35 } }
        })
        assert.strictEqual(decided.status, "decided")
        assert.strictEqual(decided.approval.status, "approved")

        const again2 = yield* grace.approvals.decide({
          path: { runId: started.runId, nodeId: "refund-decision" },
          headers: {},
          payload: { verdict: "approve", note: "fine", payload: { approvedAmount: 35 } }
        })
        assert.strictEqual(again2.status, "already-decided")

        const run = yield* eventually(
          operator.runs.get({ path: { runId: started.runId } }).pipe(
            Effect.filterOrFail((run) => run.status === "completed", () => "not yet completed")
          )
        )
        assert.deepStrictEqual(run.result, { _tag: "Success", value: { approved: true, refunded: 35 } })

        const timeline = yield* operator.runs.timeline({ path: { runId: started.runId } })
        assert.deepStrictEqual(timeline.nodes.map((node) => [node.nodeId, node.status]), [
          ["refund-decision", "approved"],
          ["pay", "completed"]
        ])
        assert.isTrue(timeline.events.some((event) => event.type === "approval.decided" && event.actor === "grace"))

        const audit = yield* operator.audit.forRun({ path: { runId: started.runId } })
        const decision = audit.entries.find((entry) => entry.action === "approval.decided")
        assert.strictEqual(decision?.actor, "grace")
        assert.strictEqual(decision?.requestHash, item.requestHash)
        assert.deepStrictEqual(yield* operator.audit.verify(), { valid: true, entries: audit.entries.length })

        // The feed shows an event once every transaction older than it has ended (on PostgreSQL, any on the
        // server, so another test's open transaction can hold it back for a moment).
        yield* eventually(
          operator.events.read({ urlParams: {} }).pipe(
            Effect.filterOrFail(
              (page) => page.events.some((event) => event.type === "run.completed" && event.runId === started.runId),
              () => "run.completed not yet in the feed"
            )
          )
        )
      }).pipe(Effect.scoped))

    it.live("401, 403, 404, 409 and 412 come from real requests and change nothing", () =>
      Effect.gen(function*() {
        const server = yield* setup
        const operator = yield* server.client(tokens.operator)
        const grace = yield* server.client(tokens.grace)
        const mallory = yield* server.client(tokens.mallory)
        const { runId } = yield* operator.runs.start({ path: { name: "refund" }, payload: { payload: { ticketId: "T-2", amount: 10 } }, headers: {} })
        const approval = yield* eventually(grace.approvals.get({ path: { runId, nodeId: "refund-decision" } }))
        const address = { runId, nodeId: "refund-decision" }
        const sql = (yield* Effect.provide(SqlClient.SqlClient, server.context)).withoutTransforms()
        const snapshot = () =>
          Effect.all([
            sql`SELECT status, decision FROM gatehouse_approvals WHERE run_id = ${runId}`,
            sql`SELECT COUNT(*) AS n FROM gatehouse_audit WHERE run_id = ${runId}`,
            sql`SELECT COUNT(*) AS n FROM gatehouse_events WHERE run_id = ${runId}`
          ]).pipe(Effect.map((rows) => JSON.stringify(rows)))
        const before = yield* snapshot()

        // 401: no credentials, an unknown token
        assert.strictEqual((yield* server.fetch("/v1/approvals")).status, 401)
        assert.strictEqual((yield* server.fetch("/v1/approvals", { token: "nope-not-a-token" })).status, 401)
        const anonymous = yield* server.client()
        const unauthenticated = yield* Effect.either(anonymous.approvals.inbox({ urlParams: {} }))
        assert.isTrue(Either.isLeft(unauthenticated) && unauthenticated.left._tag === "Unauthenticated")

        // 403: mallory is not a reviewer of it, cannot read it nor decide it, nor cancel runs
        const notReviewer = yield* Effect.either(mallory.approvals.decide({ path: address, headers: {}, payload: { verdict: "approve", payload: { approvedAmount: 1 } } }))
        assert.isTrue(Either.isLeft(notReviewer) && notReviewer.left._tag === "NotAuthorized")
        const notReader = yield* Effect.either(mallory.approvals.get({ path: address }))
        assert.isTrue(Either.isLeft(notReader) && notReader.left._tag === "Forbidden")
        const notOperator = yield* Effect.either(grace.runs.cancel({ path: { runId }, payload: { reason: "no" } }))
        assert.isTrue(Either.isLeft(notOperator) && notOperator.left._tag === "Forbidden")
        assert.strictEqual((yield* server.fetch(`/v1/runs/${runId}/cancel`, { method: "POST", token: tokens.grace, body: "{}" })).status, 403)
        assert.strictEqual((yield* server.fetch("/v1/approvals?reviewer=olivia", { token: tokens.grace })).status, 403)

        // 404
        const missing = yield* Effect.either(grace.approvals.decide({ path: { runId, nodeId: "nope" }, headers: {}, payload: { verdict: "deny" } }))
        assert.isTrue(Either.isLeft(missing) && missing.left._tag === "ApprovalNotFound")
        assert.strictEqual((yield* server.fetch(`/v1/runs/nope/approvals/x/decision`, { method: "POST", token: tokens.grace, body: JSON.stringify({ verdict: "deny" }) })).status, 404)
        assert.strictEqual((yield* server.fetch(`/v1/runs/nope`, { token: tokens.operator })).status, 404)

        // 412: a request hash the reviewer did not see
        const stale = yield* server.fetch(`/v1/runs/${runId}/approvals/refund-decision/decision`, {
          method: "POST",
          token: tokens.grace,
          headers: { "content-type": "application/json", "if-match": "\"0000\"" },
          body: JSON.stringify({ verdict: "deny" })
        })
        assert.strictEqual(stale.status, 412)
        assert.strictEqual(((yield* Effect.promise(() => stale.json())) as { _tag: string })._tag, "StaleApproval")

        // 400: malformed JSON, a missing field named, a payload the node's schema refuses
        const malformed = yield* server.fetch(`/v1/runs/${runId}/approvals/refund-decision/decision`, {
          method: "POST", token: tokens.grace, headers: { "content-type": "application/json" }, body: "{\"verdict\": "
        })
        assert.strictEqual(malformed.status, 400)
        const noVerdict = yield* server.fetch(`/v1/runs/${runId}/approvals/refund-decision/decision`, {
          method: "POST", token: tokens.grace, headers: { "content-type": "application/json" }, body: JSON.stringify({ note: "x" })
        })
        assert.strictEqual(noVerdict.status, 400)
        assert.include(JSON.stringify(yield* Effect.promise(() => noVerdict.json())), "verdict")
        const badPayload = yield* Effect.either(grace.approvals.decide({ path: address, headers: {}, payload: { verdict: "approve", payload: { approvedAmount: "lots" } } }))
        assert.isTrue(Either.isLeft(badPayload) && badPayload.left._tag === "InvalidDecision")
        const tooLarge = yield* server.fetch(`/v1/runs/${runId}/approvals/refund-decision/decision`, {
          method: "POST", token: tokens.grace, headers: { "content-type": "application/json" },
          body: JSON.stringify({ verdict: "deny", note: "x".repeat(2 * 1024 * 1024) })
        })
        assert.strictEqual(tooLarge.status, 413)

        assert.strictEqual(yield* snapshot(), before)
        assert.strictEqual(approval.status, "waiting-approval")

        // 409: a different decision already won
        yield* grace.approvals.decide({ path: address, headers: {}, payload: { verdict: "approve", payload: { approvedAmount: 10 } } })
        const conflict = yield* Effect.either(grace.approvals.decide({ path: address, headers: {}, payload: { verdict: "deny" } }))
        assert.isTrue(Either.isLeft(conflict) && conflict.left._tag === "DecisionConflict")
        assert.strictEqual((yield* server.fetch(`/v1/runs/${runId}/approvals/refund-decision/decision`, {
          method: "POST", token: tokens.grace, headers: { "content-type": "application/json" }, body: JSON.stringify({ verdict: "deny" })
        })).status, 409)
      }).pipe(Effect.scoped))

    it.live("50 concurrent decision POSTs on one approval: exactly one decided", () =>
      Effect.gen(function*() {
        const server = yield* setup
        const operator = yield* server.client(tokens.operator)
        const grace = yield* server.client(tokens.grace)
        const { runId } = yield* operator.runs.start({ path: { name: "refund" }, payload: { payload: { ticketId: "T-3", amount: 5 } }, headers: {} })
        yield* eventually(grace.approvals.get({ path: { runId, nodeId: "refund-decision" } }))
        const results = yield* Effect.forEach(
          Array.from({ length: 50 }, (_, i) => i),
          (i) =>
            server.fetch(`/v1/runs/${runId}/approvals/refund-decision/decision`, {
              method: "POST",
              token: tokens.grace,
              headers: { "content-type": "application/json" },
              body: JSON.stringify(i % 2 === 0 ? { verdict: "approve", payload: { approvedAmount: 5 } } : { verdict: "deny" })
            }).pipe(Effect.flatMap((response) =>
              Effect.promise(() => response.json()).pipe(Effect.map((body) => [response.status, body] as const))
            )),
          { concurrency: "unbounded" }
        )
        const decided = results.filter(([status, body]) => status === 200 && (body as Approvals.DecideResult).status === "decided")
        assert.strictEqual(decided.length, 1)
        for (const [status, body] of results) {
          assert.isTrue(status === 200 || (status === 409 && (body as { _tag: string })._tag === "DecisionConflict"), `${status} ${JSON.stringify(body)}`)
        }
        const audit = yield* operator.audit.forRun({ path: { runId } })
        assert.strictEqual(audit.entries.filter((entry) => entry.action === "approval.decided").length, 1)
      }).pipe(Effect.scoped))
  })
