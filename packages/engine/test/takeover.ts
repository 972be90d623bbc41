import { assert, describe, it } from "@effect/vitest"
import { Runner, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type { MakeDatabase } from "./utils/database.js"
import { buildEngine, provideContext, sideEffects } from "./utils/engine.js"

const Transfer = Workflow.make({
  name: "takeover-transfer",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

// The first attempt of "b" hangs: its runner stalls there (or dies: to the database they look the same,
// a lease that is no longer renewed). Later attempts, in the runner that takes over, go through.
let bAttempts = 0

const TransferLive = Transfer.toLayer((payload, run) =>
  Effect.gen(function*() {
    const a = yield* Step.run("a", Effect.as(sideEffects.record(run.runId, "a"), 40), { success: Schema.Number })
    const b = yield* Step.run(
      "b",
      Effect.suspend(() => ++bAttempts === 1 ? Effect.never : Effect.as(sideEffects.record(run.runId, "b"), 2)),
      { success: Schema.Number }
    )
    return `${payload.id}:${a + b}`
  })
)

const takeovers = Runner.metrics.takeovers

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    it.scoped("a run whose runner stopped renewing is taken over after the lease; completed steps do not run again", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        bAttempts = 0
        const before = (yield* Metric.value(takeovers)).count
        // Runner A renews only every hour: past its 30-second lease it is as good as dead.
        const a = yield* buildEngine(db, TransferLive, {
          runnerId: "runner-a",
          leaseDuration: "30 seconds",
          leaseRenewInterval: "1 hour"
        })
        const runId = yield* Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Transfer.start({ id: "t-1" })
          const workflows = yield* Workflows.Workflows
          // Wait until A is inside "b": "a" checkpointed, "b" attempted once.
          yield* Effect.gen(function*() {
            const inspection = yield* workflows.inspect(runId)
            return inspection.nodes.some((node) => node.nodeId === "a") && bAttempts === 1
          }).pipe(Effect.repeat({ until: (ready) => ready, schedule: Schedule.spaced("10 millis") }), Effect.withClock(Clock.make()))
          const held = yield* workflows.poll(runId)
          assert.strictEqual(held.status, "running")
          assert.strictEqual(held.leaseOwner, "runner-a")
          assert.deepStrictEqual(yield* (yield* Runner.Runner).active, [runId])
          return runId
        }).pipe(provideContext(a))

        const b = yield* buildEngine(db, TransferLive, { runnerId: "runner-b", leaseDuration: "30 seconds" })
        yield* Effect.gen(function*() {
          const workflows = yield* Workflows.Workflows
          // Not before the lease has run out.
          yield* TestClock.adjust("29 seconds")
          assert.strictEqual((yield* workflows.poll(runId)).leaseOwner, "runner-a")
          yield* TestClock.adjust("2 seconds")
          assert.deepStrictEqual(yield* Transfer.result(runId), Exit.succeed("t-1:42"))
          assert.strictEqual(yield* sideEffects.count(runId, "a"), 1)
          assert.strictEqual(yield* sideEffects.count(runId, "b"), 1)
          assert.strictEqual(bAttempts, 2)
          const inspection = yield* workflows.inspect(runId)
          assert.strictEqual(inspection.run.claims, 2)
          assert.strictEqual(inspection.run.takenOverFrom, "runner-a")
          const takenOver = inspection.events.filter((event) => event.type === "run.taken-over")
          assert.strictEqual(takenOver.length, 1)
          assert.strictEqual(takenOver[0].actor, "runner-b")
          assert.deepStrictEqual(takenOver[0].data, { from: "runner-a", by: "runner-b", claims: 2 })
          assert.strictEqual((yield* Metric.value(takeovers)).count - before, 1)
        }).pipe(provideContext(b))
      }))

    it.scoped("a runner never takes over a run it is executing, even when its renewal is late", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        bAttempts = 0
        const before = (yield* Metric.value(takeovers)).count
        const a = yield* buildEngine(db, TransferLive, { leaseDuration: "30 seconds", leaseRenewInterval: "1 hour" })
        yield* Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Transfer.start({ id: "t-2" })
          yield* Effect.sync(() => bAttempts).pipe(
            Effect.repeat({ until: (n) => n === 1, schedule: Schedule.spaced("10 millis") }),
            Effect.withClock(Clock.make())
          )
          yield* TestClock.adjust("2 minutes")
          const runner = yield* Runner.Runner
          yield* runner.poke
          assert.deepStrictEqual(yield* runner.active, [runId])
          assert.strictEqual(bAttempts, 1)
          assert.strictEqual((yield* (yield* Workflows.Workflows).poll(runId)).claims, 1)
          assert.strictEqual((yield* Metric.value(takeovers)).count - before, 0)
        }).pipe(provideContext(a))
      }))
  })
