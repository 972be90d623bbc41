import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import {
  Approval,
  Approvals,
  Audit,
  DurableClock,
  DurableDeferred,
  GatehouseTest,
  Run,
  Step,
  Workflow,
  Workflows
} from "@gatehouse/engine"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { appendAudit } from "../src/internal/storage/events.js"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext, sideEffects } from "./utils/engine.js"
import { snapshot } from "./utils/snapshot.js"

const Resume = DurableDeferred.make("inputs-resume")

// A body that swallows its own suspension in every way Effect offers, then reaches a protected step.
const Swallow = Workflow.make({
  name: "swallow",
  payload: Schema.Struct({
    id: Schema.String,
    mode: Schema.Literal("catchAllCause", "exit", "sandbox", "either", "deferred")
  }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const SwallowLive = Swallow.toLayer((payload, run) =>
  Effect.gen(function*() {
    const wait: Effect.Effect<unknown, never, any> = payload.mode === "deferred"
      ? DurableDeferred.await(Resume)
      : Approval.request("gate", { title: "Ship it?", reviewers: { users: ["lead"] } })
    switch (payload.mode) {
      case "catchAllCause":
      case "deferred":
        yield* wait.pipe(Effect.catchAllCause(() => Effect.succeed("swallowed")))
        break
      case "exit":
        yield* Effect.exit(wait)
        break
      case "sandbox":
        yield* wait.pipe(Effect.sandbox, Effect.catchAll(() => Effect.void))
        break
      case "either":
        yield* Effect.either(Effect.sandbox(wait))
        break
    }
    yield* Step.run("protected", sideEffects.record(run.runId, "protected"))
    // Caught again: the run must still be stored suspended, not completed.
    return "done"
  }).pipe(Effect.catchAllCause(() => Effect.succeed("swallowed twice")))
)

const Loop = Workflow.make({ name: "loop", payload: Schema.Struct({ id: Schema.String }), success: Schema.Number })

const LoopLive = Loop.toLayer((_, run) =>
  Effect.gen(function*() {
    let total = 0
    for (let i = 0; i < 3; i++) {
      total += yield* Step.run("charge", Effect.as(sideEffects.record(run.runId, `charge`), 10), { success: Schema.Number })
    }
    return total
  })
)

const Timers = Workflow.make({
  name: "timers",
  payload: Schema.Struct({ mode: Schema.Literal("infinity", "huge", "approval", "escalation", "metadata", "nul-id") }),
  success: Schema.String
})

const TimersLive = Timers.toLayer((payload) =>
  Effect.gen(function*() {
    switch (payload.mode) {
      case "infinity":
        yield* DurableClock.sleep("forever", Duration.infinity)
        break
      case "huge":
        yield* DurableClock.sleep("forever", Duration.millis(2 ** 53))
        break
      case "approval":
        yield* Approval.request("forever", { title: "Never?", timeout: Duration.infinity })
        break
      case "escalation":
        yield* Approval.request("forever", {
          title: "Never?",
          timeout: "1 day",
          onTimeout: { escalateTo: { users: ["boss"] }, timeout: Duration.infinity }
        })
        break
      case "metadata":
        yield* Approval.request("forever", { title: "NaN?", metadata: { amount: NaN } })
        break
      case "nul-id":
        yield* Step.run("for\u0000ever", Effect.void)
        break
    }
    return "slept"
  })
)

const NotJson = Workflow.make({
  name: "not-json",
  payload: Schema.Struct({ mode: Schema.Literal("date", "nan", "map", "undefined-property") }),
  success: Schema.String
})

const NotJsonLive = NotJson.toLayer((payload, run) =>
  Effect.gen(function*() {
    if (payload.mode === "undefined-property") {
      const value = yield* Step.run("value", Effect.succeed({ a: 1, b: undefined as number | undefined }))
      // What the first execution saw, recorded before the run suspends; the replay returns what it sees.
      yield* Step.run("first-saw", sideEffects.record(run.runId, `saw:${"b" in value}`))
      yield* DurableDeferred.await(Resume)
      return `saw:${"b" in value}`
    }
    const value = payload.mode === "date" ? new Date(0) : payload.mode === "nan" ? { n: NaN } : new Map([["a", 1]])
    yield* Step.run("value", Effect.succeed(value))
    return "accepted"
  })
)

const Amount = DurableDeferred.make("inputs-amount", { success: Schema.Number })

const Numbers = Workflow.make({
  name: "numbers",
  payload: Schema.Struct({ id: Schema.String, n: Schema.Number }),
  success: Schema.Number,
  idempotencyKey: (payload) => payload.id
})

const NumbersLive = Numbers.toLayer((payload) =>
  Effect.gen(function*() {
    const amount = yield* DurableDeferred.await(Amount)
    return payload.n + amount
  })
)

const Pay = Workflow.make({
  name: "pay",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.Number,
  idempotencyKey: (payload) => payload.id
})

const PayLive = Pay.toLayer((_payload) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("pay", {
      title: "Pay?",
      decision: Schema.Struct({ amount: Schema.Number, extra: Schema.optional(Schema.Unknown) }),
      reviewers: { users: ["ana"], roles: ["finance"] }
    })
    return decision.payload?.amount ?? 0
  })
)

// A legitimate race: an approval against a durable timer. Whichever wins, the run goes on.
const Raced = Workflow.make({
  name: "raced",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const RacedLive = Raced.toLayer((_, run) =>
  Effect.gen(function*() {
    const winner = yield* Effect.race(
      Effect.as(Approval.request("hurry", { title: "Hurry?", onDeny: "continue" }), "approval"),
      Effect.as(DurableClock.sleep("give-up", "1 hour"), "timer")
    )
    yield* Step.run("after", sideEffects.record(run.runId, "after"))
    return winner
  })
)

const AllLive = Layer.mergeAll(SwallowLive, LoopLive, TimersLive, NotJsonLive, NumbersLive, PayLive, RacedLive)

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    const engine = Effect.gen(function*() {
      const db = yield* makeDatabase
      const context = yield* buildEngine(db, AllLive, { pollInterval: Duration.infinity })
      yield* sideEffects.setup.pipe(provideContext(context))
      return { db, context }
    })

    const statusOf = (runId: string) => Effect.map(Workflows.Workflows, (w) => w.poll(runId)).pipe(Effect.flatten)

    for (const mode of ["catchAllCause", "exit", "sandbox", "either"] as const) {
      it.scoped(`invariant 7: a body that swallows the approval's suspension (${mode}) cannot pass it`, () =>
        Effect.gen(function*() {
          const { context } = yield* engine
          yield* Effect.gen(function*() {
            const approvals = yield* Approvals.Approvals
            const denied = yield* Swallow.start({ id: `deny-${mode}`, mode })
            const approved = yield* Swallow.start({ id: `approve-${mode}`, mode })
            yield* GatehouseTest.settle
            for (const runId of [denied, approved]) {
              assert.strictEqual((yield* statusOf(runId)).status, "waiting-approval")
              assert.strictEqual(yield* sideEffects.count(runId, "protected"), 0)
            }
            const inspection = yield* (yield* Workflows.Workflows).inspect(denied)
            assert.deepStrictEqual(inspection.nodes.map((node) => [node.nodeId, node.status]), [["gate", "waiting-approval"]])

            const deny = yield* approvals.decide({ runId: denied, nodeId: "gate", verdict: "deny", by: "lead" })
            assert.strictEqual(deny.status, "decided")
            const exit = yield* Swallow.result(denied)
            assert.deepStrictEqual(
              exit,
              Exit.fail(new Run.ApprovalDenied({ runId: denied, nodeId: "gate", decidedBy: "lead", outcome: "denied" }))
            )
            assert.strictEqual(yield* sideEffects.count(denied, "protected"), 0)

            yield* approvals.decide({ runId: approved, nodeId: "gate", verdict: "approve", by: "lead" })
            assert.deepStrictEqual(yield* Swallow.result(approved), Exit.succeed("done"))
            assert.strictEqual(yield* sideEffects.count(approved, "protected"), 1)
          }).pipe(provideContext(context))
        }))
    }

    it.scoped("invariant 7: a body that swallows a durable deferred's suspension stays suspended", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Swallow.start({ id: "deferred", mode: "deferred" })
          yield* GatehouseTest.settle
          assert.strictEqual((yield* statusOf(runId)).status, "suspended")
          assert.strictEqual(yield* sideEffects.count(runId, "protected"), 0)
          yield* DurableDeferred.complete({ runId, deferred: Resume }, Exit.void)
          assert.deepStrictEqual(yield* Swallow.result(runId), Exit.succeed("done"))
          assert.strictEqual(yield* sideEffects.count(runId, "protected"), 1)
        }).pipe(provideContext(context))
      }))

    it.scoped("an approval raced against a durable timer: the timer's win still lets the run go on", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const byTimer = yield* Raced.start({ id: "timer" })
          const byApproval = yield* Raced.start({ id: "approval" })
          yield* GatehouseTest.settle
          assert.strictEqual((yield* statusOf(byTimer)).status, "waiting-approval")
          yield* (yield* Approvals.Approvals).decide({ runId: byApproval, nodeId: "hurry", verdict: "approve", by: "x" })
          assert.deepStrictEqual(yield* Raced.result(byApproval), Exit.succeed("approval"))
          yield* TestClock.adjust("1 hour")
          assert.deepStrictEqual(yield* Raced.result(byTimer), Exit.succeed("timer"))
          assert.strictEqual(yield* sideEffects.count(byTimer, "after"), 1)
          assert.strictEqual(yield* sideEffects.count(byApproval, "after"), 1)
        }).pipe(provideContext(context))
      }))

    it.scoped("the same node id twice in one execution fails the run with DuplicateNodeId", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Loop.start({ id: "loop" })
          const exit = yield* Loop.result(runId)
          assert.deepStrictEqual(exit, Exit.fail(new Run.DuplicateNodeId({ runId, nodeId: "charge" })))
          assert.include((yield* statusOf(runId)).error, `"charge" was reached twice`)
          assert.strictEqual(yield* sideEffects.count(runId, "charge"), 1)
        }).pipe(provideContext(context))
      }))

    it.scoped("timers, approval timeouts and node ids the database cannot store fail the run with InvalidNode", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const workflows = yield* Workflows.Workflows
          const cases = [
            ["infinity", "forever", "infinite"],
            ["huge", "forever", "beyond what can be stored"],
            ["approval", "forever", "timeout"],
            ["escalation", "forever", "escalation timeout"],
            ["metadata", "forever", "metadata must be JSON"],
            ["nul-id", "for\u0000ever", "NUL"]
          ] as const
          for (const [mode, nodeId, reason] of cases) {
            const runId = yield* Timers.start({ mode })
            const exit = yield* Timers.result(runId)
            assert.isTrue(Exit.isFailure(exit), mode)
            const error = Exit.isFailure(exit) ? exit.cause : undefined
            const failure = error?._tag === "Fail" ? error.error : undefined
            assert.instanceOf(failure, Run.InvalidNode, mode)
            assert.strictEqual((failure as Run.InvalidNode).nodeId, nodeId, mode)
            assert.include((failure as Run.InvalidNode).reason, reason, mode)
            const inspection = yield* workflows.inspect(runId)
            assert.deepStrictEqual(inspection.nodes, [], mode)
            assert.strictEqual(inspection.run.status, "failed")
            assert.strictEqual(inspection.run.claims, 1, mode)
          }
          assert.strictEqual((yield* (yield* Approvals.Approvals).list()).approvals.length, 0)
        }).pipe(provideContext(context))
      }))

    it.scoped("a step result without a schema that is not JSON is recorded as a defect naming the step", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          for (const [mode, what] of [["date", "a Date"], ["nan", "NaN"], ["map", "a Map"]] as const) {
            const runId = yield* NotJson.start({ mode })
            const run = yield* (yield* Workflows.Workflows).result(runId)
            assert.strictEqual(run.status, "failed", mode)
            assert.include(run.error, `Step "value" produced a value that is not JSON`, mode)
            assert.include(run.error, what, mode)
          }
        }).pipe(provideContext(context))
      }))

    it.scoped("first execution and replay see the same step result (an undefined property is absent in both)", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* NotJson.start({ mode: "undefined-property" })
          yield* GatehouseTest.settle
          yield* DurableDeferred.complete({ runId, deferred: Resume }, Exit.void)
          const exit = yield* NotJson.result(runId)
          assert.deepStrictEqual(yield* sideEffects.labels(runId), ["saw:false"])
          assert.deepStrictEqual(exit, Exit.succeed("saw:false"))
        }).pipe(provideContext(context))
      }))

    it.scoped("invariant 9: non-JSON decision payloads and NUL characters are InvalidDecision and change nothing", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const approvals = yield* Approvals.Approvals
          const runId = yield* Pay.start({ id: "pay" })
          yield* GatehouseTest.settle
          const good = { runId, nodeId: "pay", verdict: "approve", by: "ana", payload: { amount: 5 } } as const
          const cyclic: Record<string, unknown> = { amount: 1 }
          cyclic.extra = cyclic
          const before = yield* snapshot
          const cases: ReadonlyArray<readonly [string, Record<string, unknown>]> = [
            ["NaN", { ...good, payload: { amount: NaN } }],
            ["Infinity", { ...good, payload: { amount: Infinity } }],
            ["-Infinity", { ...good, payload: { amount: -Infinity } }],
            ["1e400", { ...good, payload: JSON.parse(`{"amount":1e400}`) }],
            ["Date", { ...good, payload: { amount: 1, extra: new Date(0) } }],
            ["function", { ...good, payload: { amount: 1, extra: () => 1 } }],
            ["symbol", { ...good, payload: { amount: 1, extra: Symbol("s") } }],
            ["undefined inside", { ...good, payload: { amount: 1, extra: undefined } }],
            ["undefined in an array", { ...good, payload: { amount: 1, extra: [1, undefined] } }],
            ["bigint", { ...good, payload: { amount: 1, extra: 10n } }],
            ["cycle", { ...good, payload: cyclic }],
            ["function payload", { ...good, payload: () => 1 }],
            ["NUL in runId", { ...good, runId: `${runId}\u0000` }],
            ["NUL in nodeId", { ...good, nodeId: "pay\u0000" }],
            ["NUL in reviewer", { ...good, by: "ana\u0000" }],
            ["NUL in reviewer object", { ...good, by: { id: "a\u0000na" } }],
            ["NUL in a role", { ...good, by: { id: "dave", roles: ["fin\u0000ance"] } }],
            ["NUL in note", { ...good, note: "ok\u0000" }],
            ["NUL in requestHash", { ...good, requestHash: "\u0000" }],
            ["lone surrogate in note", { ...good, note: "ok\uD800" }]
          ]
          for (const [label, input] of cases) {
            const exit = yield* Effect.exit(approvals.decide(input as any))
            assert.isTrue(Exit.isFailure(exit), label)
            if (Exit.isFailure(exit)) {
              assert.strictEqual(exit.cause._tag, "Fail", label)
              const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
              assert.strictEqual((error as any)?._tag, "InvalidDecision", label)
            }
          }
          assert.deepStrictEqual(yield* snapshot, before)
          // NUL inside a JSON string is JSON: it is escaped in storage and comes back unchanged.
          const decided = yield* approvals.decide({ ...good, payload: { amount: 5, extra: "a\u0000b" } })
          assert.strictEqual(decided.status, "decided")
          assert.deepStrictEqual(yield* Pay.result(runId), Exit.succeed(5))
          assert.deepStrictEqual((yield* approvals.get({ runId, nodeId: "pay" })).decision, {
            ...(decided.approval.decision as object)
          })
          assert.deepStrictEqual(yield* Audit.verify, { valid: true, entries: 2 })
        }).pipe(provideContext(context))
      }))

    it.scoped("invariant 6: the audit hash covers exactly the JSON stored", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* appendAudit(sql, {
            runId: undefined,
            action: "test.entry",
            actor: "test",
            data: { at: new Date(0), skipped: undefined, list: [1, "two"] },
            now: 1
          }).pipe(sql.withTransaction)
          assert.deepStrictEqual(yield* Audit.verify, { valid: true, entries: 1 })
        }).pipe(provideContext(context))
      }))

    it.scoped("invariant 9: start refuses non-JSON payloads, bad startedBy and NUL keys; completions refuse NaN", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const before = yield* snapshot
          const refused: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, Workflows.Workflows>]> = [
            ["NaN payload", Numbers.start({ id: "n1", n: NaN })],
            ["Infinity payload", Numbers.start({ id: "n2", n: Infinity })],
            ["startedBy number", Numbers.start({ id: "n3", n: 1 }, { startedBy: 42 as any })],
            ["startedBy object", Numbers.start({ id: "n4", n: 1 }, { startedBy: { id: "x" } as any })],
            ["startedBy NUL", Numbers.start({ id: "n5", n: 1 }, { startedBy: "a\u0000" })],
            ["idempotency key NUL", Numbers.start({ id: "n\u00006", n: 1 })]
          ]
          for (const [label, start] of refused) {
            const exit = yield* Effect.exit(start)
            assert.isTrue(Exit.isFailure(exit) && exit.cause._tag === "Fail", label)
            if (Exit.isFailure(exit) && exit.cause._tag === "Fail") {
              assert.strictEqual((exit.cause.error as any)._tag, "InvalidPayload", label)
            }
          }
          assert.deepStrictEqual(yield* snapshot, before)

          const runId = yield* Numbers.start({ id: "ok", n: 1 }, { startedBy: "ada" })
          yield* GatehouseTest.settle
          const afterStart = yield* snapshot
          for (const value of [NaN, Infinity, -Infinity]) {
            const error = yield* Effect.flip(DurableDeferred.complete({ runId, deferred: Amount }, Exit.succeed(value)))
            assert.strictEqual(error._tag, "InvalidPayload", String(value))
          }
          const nul = yield* Effect.flip(DurableDeferred.complete({ runId: `${runId}\u0000`, deferred: Amount }, Exit.succeed(1)))
          assert.strictEqual(nul._tag, "InvalidPayload")
          assert.deepStrictEqual(yield* snapshot, afterStart)
          yield* DurableDeferred.complete({ runId, deferred: Amount }, Exit.succeed(2))
          assert.deepStrictEqual(yield* Numbers.result(runId), Exit.succeed(3))
        }).pipe(provideContext(context))
      }))
  })
