import { assert, describe, it } from "@effect/vitest"
import { DurableDeferred, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext, sideEffects } from "./utils/engine.js"

const Go = DurableDeferred.make("go", { success: Schema.String })

const Waiter = Workflow.make({
  name: "wakeups-waiter",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const WaiterLive = Waiter.toLayer((payload, run) =>
  Effect.gen(function*() {
    yield* Step.run("before", sideEffects.record(run.runId, "before"))
    const note = yield* DurableDeferred.await(Go)
    yield* Step.run("after", sideEffects.record(run.runId, "after"))
    return `${payload.id}:${note}`
  })
)

/** Waits, within a bound, until `check` holds. */
const waitUntil = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean) =>
  effect.pipe(
    Effect.repeat({ until: check, schedule: Schedule.spaced("20 millis") }),
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("condition not reached in 10 seconds") })
  )

// Polling every hour on the live clock: within these tests only a notification can wake a runner.
const noPolling = { pollInterval: "1 hour" } as const

describe.skipIf(!pgAvailable)("LISTEN/NOTIFY wake-ups (PostgreSQL)", () => {
  it.scopedLive("a completion sent by another process wakes the runner holding nothing at once", () =>
    Effect.gen(function*() {
      const db = yield* pg
      const runnerProcess = yield* buildEngine(db, WaiterLive, noPolling)
      const otherProcess = yield* buildEngine(db, Layer.empty, noPolling)
      const runId = yield* Effect.gen(function*() {
        yield* sideEffects.setup
        // Started from the other process: the start itself must reach the runner by NOTIFY.
        return yield* Waiter.start({ id: "w-1" }).pipe(provideContext(otherProcess))
      }).pipe(provideContext(runnerProcess))
      const client = Workflows.Workflows
      yield* Effect.gen(function*() {
        const workflows = yield* client
        // Wait (bounded) until the run is suspended on its deferred.
        yield* waitUntil(workflows.poll(runId), (run) => run.status === "suspended")
      }).pipe(provideContext(runnerProcess))
      const sent = yield* DurableDeferred.succeed({ runId, deferred: Go }, "hello").pipe(provideContext(otherProcess))
      assert.strictEqual(sent, "completed")
      const exit = yield* Waiter.result(runId).pipe(Effect.timeout("10 seconds"), provideContext(runnerProcess))
      assert.deepStrictEqual(exit, Exit.succeed("w-1:hello"))
      assert.strictEqual(yield* sideEffects.count(runId, "after").pipe(provideContext(runnerProcess)), 1)
    }), { timeout: 30_000 })

  it.scopedLive("a runner shutting down gives its run back and a runner in another process takes it at once", () =>
    Effect.gen(function*() {
      const db = yield* pg
      const Handover = Workflow.make({
        name: "wakeups-handover",
        payload: Schema.Struct({ id: Schema.String }),
        success: Schema.String,
        idempotencyKey: (payload) => payload.id
      })
      let attempts = 0
      const HandoverLive = Handover.toLayer(() =>
        Step.run("work", Effect.suspend(() => ++attempts === 1 ? Effect.never : Effect.succeed("done")), {
          success: Schema.String
        })
      )
      // The first runner lives in a scope of its own, closed below: a graceful shutdown.
      const firstScope = yield* Scope.make()
      const first = yield* buildEngine(db, HandoverLive, noPolling).pipe(Scope.extend(firstScope))
      const runId = yield* Effect.gen(function*() {
        const runId = yield* Handover.start({ id: "h-1" })
        yield* waitUntil(Effect.sync(() => attempts), (n) => n >= 1)
        return runId
      }).pipe(provideContext(first))
      // Only now the other runner, so that the first one certainly holds the run.
      const other = yield* buildEngine(db, HandoverLive, noPolling)
      yield* Scope.close(firstScope, Exit.void)
      const exit = yield* Handover.result(runId).pipe(Effect.timeout("10 seconds"), provideContext(other))
      assert.deepStrictEqual(exit, Exit.succeed("done"))
    }), { timeout: 30_000 })

  it.scopedLive("a cancel from another process interrupts the run where it executes", () =>
    Effect.gen(function*() {
      const db = yield* pg
      const Stuck = Workflow.make({
        name: "wakeups-stuck",
        payload: Schema.Struct({ id: Schema.String }),
        idempotencyKey: (payload) => payload.id
      })
      let interrupted = false
      const StuckLive = Stuck.toLayer(() =>
        Step.run("forever", Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => interrupted = true))))
      )
      const runnerProcess = yield* buildEngine(db, StuckLive, noPolling)
      const otherProcess = yield* buildEngine(db, Layer.empty, noPolling)
      const runId = yield* Stuck.start({ id: "s-1" }).pipe(provideContext(otherProcess))
      yield* Effect.gen(function*() {
        const workflows = yield* Workflows.Workflows
        yield* waitUntil(workflows.poll(runId), (run) => run.status === "running")
        const outcome = yield* workflows.cancel(runId, { by: "operator" }).pipe(provideContext(otherProcess))
        assert.strictEqual(outcome.status, "canceled")
        yield* waitUntil(Effect.sync(() => interrupted), (done) => done)
      }).pipe(provideContext(runnerProcess))
    }), { timeout: 30_000 })
})
