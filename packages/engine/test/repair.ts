/**
 * Repairing runs (issue 21): a failed or canceled run resumed in place, a run forked from a node, and the
 * decisions recorded before a repair reused only while they still hold.
 */
import { assert, describe, it } from "@effect/vitest"
import { Approval, Approvals, Audit, Events, GatehouseTest, Step, Waiting, Workflow, Workflows } from "@gatehouse/engine"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext } from "./utils/engine.js"

/** The payment provider: down for some refunds, and every call it received with its idempotency key. */
const providerDown = new Set<string>()
const calls = new Map<string, Array<string>>()
const call = (id: string, what: string) =>
  Effect.sync(() => {
    calls.set(id, [...(calls.get(id) ?? []), what])
  })
const callsOf = (id: string) => calls.get(id) ?? []
/** What the reviewer is shown, when the code building the request changed under a run (see `quotes`). */
const quotes = new Map<string, number>()

class ProviderDown extends Schema.TaggedError<ProviderDown>()("ProviderDown", {}) {}

const Refund = Workflow.make({
  name: "repair-refund",
  payload: Schema.Struct({ id: Schema.String, amount: Schema.Number, validFor: Schema.optional(Schema.String) }),
  success: Schema.Number,
  error: ProviderDown,
  idempotencyKey: (payload) => payload.id
})

const RefundLive = Refund.toLayer((payload) =>
  Effect.gen(function*() {
    const amount = quotes.get(payload.id) ?? payload.amount
    yield* Approval.request("approve-refund", {
      title: `Refund ${amount}?`,
      metadata: { amount },
      reviewers: { users: ["ana"] },
      ...(payload.validFor !== undefined ? { validFor: payload.validFor as Duration.DurationInput } : {})
    })
    yield* Step.run("reserve", call(payload.id, "reserve"))
    yield* Step.run(
      "pay",
      Effect.gen(function*() {
        yield* call(payload.id, `pay ${yield* Step.idempotencyKey}`)
        if (providerDown.has(payload.id)) return yield* new ProviderDown()
        return amount
      }),
      { error: ProviderDown, success: Schema.Number }
    )
    return amount
  })
)

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    const withEngine = <A, E, R>(body: Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const context = yield* buildEngine(db, RefundLive, { pollInterval: Duration.infinity })
        return yield* body.pipe(provideContext(context))
      })

    /** Starts a refund whose payment fails, approves it, and waits for it to fail. */
    const failedRefund = (id: string, validFor?: string) =>
      Effect.gen(function*() {
        providerDown.add(id)
        const runId = yield* Refund.start({ id, amount: 40, ...(validFor !== undefined ? { validFor } : {}) })
        yield* GatehouseTest.settle
        yield* (yield* Approvals.Approvals).decide({ runId, nodeId: "approve-refund", verdict: "approve", by: "ana" })
        const failed = yield* (yield* Workflows.Workflows).result(runId)
        assert.strictEqual(failed.status, "failed")
        return runId
      })

    const auditActions = (runId: string) =>
      Effect.map(Audit.forRun(runId), (entries) => entries.map((entry) => entry.action))

    it.scoped("resume after a permanent step failure: the step runs again with its key, the approval is reused", () =>
      withEngine(Effect.gen(function*() {
        const workflows = yield* Workflows.Workflows
        const runId = yield* failedRefund("resume-1")
        providerDown.delete("resume-1")

        const resumed = yield* workflows.resume({ runId, by: "ops", reason: "provider is back" })
        assert.strictEqual(resumed.status, "resumed")
        assert.deepStrictEqual([...resumed.rerun].sort(), ["approve-refund", "pay"])
        assert.strictEqual(resumed.run.repairs, 1)
        const done = yield* workflows.result(runId)
        assert.strictEqual(done.status, "completed")

        // reserve once; pay twice, with the same idempotency key; the reviewer was not asked again.
        const [reserve, first, second] = callsOf("resume-1")
        assert.strictEqual(reserve, "reserve")
        assert.strictEqual(callsOf("resume-1").length, 3)
        assert.strictEqual(first, second)
        const approval = yield* (yield* Approvals.Approvals).get({ runId, nodeId: "approve-refund" })
        assert.strictEqual(approval.status, "approved")
        assert.isUndefined(approval.previous)
        const actions = yield* auditActions(runId)
        assert.includeMembers(actions, ["run.resumed", "approval.reused"])
        assert.notInclude(actions.slice(actions.indexOf("run.resumed")), "approval.requested")
        // On PostgreSQL an event is readable once every older transaction on the (shared, busy) server has
        // ended: wait for it, bounded, on the real clock (this test's clock is the TestClock).
        let events: ReadonlyArray<Events.Event> = []
        for (let attempt = 0; attempt < 1500 && !events.some((event) => event.type === "run.resumed"); attempt++) {
          if (attempt > 0) yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
          events = yield* (yield* Events.Events).read({ runId, limit: 100 })
        }
        const resumedEvent = events.find((event) => event.type === "run.resumed")
        assert.strictEqual(resumedEvent?.actor, "ops")
        assert.deepInclude(resumedEvent?.data as object, { reason: "provider is back", from: "failed" })

        // Only a failed or canceled run can be resumed: nothing changes otherwise.
        const refused = yield* workflows.resume({ runId, by: "ops", reason: "again" }).pipe(Effect.flip)
        assert.strictEqual(refused._tag, "RunNotResumable")
        assert.strictEqual((yield* workflows.poll(runId)).repairs, 1)
        const bad = yield* workflows.resume({ runId, by: "", reason: "x" }).pipe(Effect.flip)
        assert.strictEqual(bad._tag, "InvalidRequest")
        assert.include(bad.message, "by")
        const missing = yield* workflows.resume({ runId: "no-such-run", by: "ops", reason: "x" }).pipe(Effect.flip)
        assert.strictEqual(missing._tag, "RunNotFound")
      })))

    it.scoped("resume with the request changed, or past validFor: the reviewer is asked again and sees why", () =>
      withEngine(Effect.gen(function*() {
        const workflows = yield* Workflows.Workflows
        const approvals = yield* Approvals.Approvals
        for (const [id, validFor, reason] of [
          ["resume-changed", undefined, "the request changed"],
          ["resume-expired", "1 hour", "the decision expired"]
        ] as const) {
          const runId = yield* failedRefund(id, validFor)
          providerDown.delete(id)
          if (validFor === undefined) quotes.set(id, 45)
          else yield* TestClock.adjust("61 minutes")
          yield* workflows.resume({ runId, by: "ops", reason: "retry" })
          yield* GatehouseTest.settle
          assert.strictEqual((yield* workflows.poll(runId)).status, "waiting-approval")
          const asked = yield* approvals.get({ runId, nodeId: "approve-refund" })
          assert.strictEqual(asked.status, "waiting-approval")
          assert.strictEqual(asked.previous?.status, "approved")
          assert.strictEqual(asked.previous?.decidedBy, "ana")
          assert.deepStrictEqual(asked.previous?.reasons, [reason])
          assert.include(yield* auditActions(runId), "approval.reasked")
          const blocker = (yield* Waiting.explain(runId)).blockers[0]
          assert.strictEqual(blocker._tag, "ApprovalWait")
          assert.deepStrictEqual(blocker._tag === "ApprovalWait" ? blocker.askedAgain?.reasons : [], [reason])

          const decided = yield* approvals.decide({ runId, nodeId: "approve-refund", verdict: "approve", by: "ana" })
          assert.strictEqual(decided.status, "decided")
          const done = yield* workflows.result(runId)
          assert.strictEqual(done.status, "completed")
          assert.deepStrictEqual(callsOf(id).filter((what) => what === "reserve"), ["reserve"])
        }
      })))

    it.scoped("a canceled run resumes: the approval the cancel closed is asked again", () =>
      withEngine(Effect.gen(function*() {
        const workflows = yield* Workflows.Workflows
        const runId = yield* Refund.start({ id: "resume-canceled", amount: 5 })
        yield* GatehouseTest.settle
        yield* workflows.cancel(runId, { by: "ops" })
        yield* workflows.resume({ runId, by: "ops", reason: "canceled by mistake" })
        yield* GatehouseTest.settle
        const asked = yield* (yield* Approvals.Approvals).get({ runId, nodeId: "approve-refund" })
        assert.strictEqual(asked.status, "waiting-approval")
        assert.deepStrictEqual(asked.previous?.reasons, ["it was canceled"])
        yield* (yield* Approvals.Approvals).decide({ runId, nodeId: "approve-refund", verdict: "approve", by: "ana" })
        assert.strictEqual((yield* workflows.result(runId)).status, "completed")
      })))

    it.scoped("fork from a step, from the approval, from the start: the origin is untouched, links both ways", () =>
      withEngine(Effect.gen(function*() {
        const workflows = yield* Workflows.Workflows
        const approvals = yield* Approvals.Approvals
        const origin = yield* failedRefund("fork-1")
        providerDown.delete("fork-1")
        const before = yield* workflows.inspect(origin)

        // From `reserve`: the approval before it is reused, reserve and pay run again.
        const fromStep = yield* workflows.fork({ runId: origin, fromNode: "reserve", by: "ops", reason: "redo" })
        assert.strictEqual(fromStep.runId, `${origin}.fork-1`)
        assert.deepStrictEqual(fromStep.run.forkedFrom, { runId: origin, nodeId: "reserve" })
        assert.strictEqual((yield* workflows.result(fromStep.runId)).status, "completed")
        assert.strictEqual((yield* approvals.get({ runId: fromStep.runId, nodeId: "approve-refund" })).status, "approved")
        assert.include(yield* auditActions(fromStep.runId), "approval.reused")

        // From the approval itself: it is asked anew.
        const fromApproval = yield* workflows.fork({ runId: origin, fromNode: "approve-refund", by: "ops", reason: "ask" })
        yield* GatehouseTest.settle
        assert.strictEqual((yield* workflows.poll(fromApproval.runId)).status, "waiting-approval")
        const anew = yield* approvals.get({ runId: fromApproval.runId, nodeId: "approve-refund" })
        assert.isUndefined(anew.previous)

        // From the start, with a new payload validated by the workflow's schema.
        const bad = yield* workflows.fork({ runId: origin, by: "ops", reason: "x", payload: { id: 1 } }).pipe(Effect.flip)
        assert.strictEqual(bad._tag, "InvalidPayload")
        const unknown = yield* workflows.fork({ runId: origin, fromNode: "nope", by: "ops", reason: "x" }).pipe(Effect.flip)
        assert.strictEqual(unknown._tag, "InvalidRequest")
        assert.include(unknown.message, "fromNode")
        const fromStart = yield* workflows.fork({
          runId: origin,
          by: "ops",
          reason: "again",
          payload: { id: "fork-1", amount: 41 }
        })
        yield* GatehouseTest.settle
        assert.strictEqual((yield* workflows.poll(fromStart.runId)).status, "waiting-approval")
        assert.deepStrictEqual((yield* workflows.poll(fromStart.runId)).payload, { id: "fork-1", amount: 41 })

        const after = yield* workflows.inspect(origin)
        assert.deepStrictEqual(after.nodes, before.nodes)
        assert.strictEqual(after.run.status, "failed")
        assert.deepStrictEqual(after.run.forks, [fromStep.runId, fromApproval.runId, fromStart.runId])
        assert.includeMembers(after.events.map((event) => event.type), ["run.forked"])
      })))
  })
