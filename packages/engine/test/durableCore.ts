import { assert, describe, it } from "@effect/vitest"
import { DurableClock, DurableDeferred, GatehouseTest, Run, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext, sideEffects, withClient, withEngine } from "./utils/engine.js"

class PaymentDeclined extends Schema.TaggedError<PaymentDeclined>()("PaymentDeclined", { reason: Schema.String }) {}

const Go = DurableDeferred.make("go", { success: Schema.Struct({ note: Schema.String }) })

const Pipeline = Workflow.make({
  name: "pipeline",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const PipelineLive = Pipeline.toLayer((payload, run) =>
  Effect.gen(function*() {
    const a = yield* Step.run("a", Effect.as(sideEffects.record(run.runId, "a"), 1), { success: Schema.Number })
    const b = yield* Step.run("b", Effect.as(sideEffects.record(run.runId, "b"), 2), { success: Schema.Number })
    const go = yield* DurableDeferred.await(Go)
    const c = yield* Step.run("c", Effect.as(sideEffects.record(run.runId, "c"), 3), { success: Schema.Number })
    return `${payload.id}:${a + b + c}:${go.note}`
  })
)

const Sleeper = Workflow.make({
  name: "sleeper",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const SleeperLive = Sleeper.toLayer((payload, run) =>
  Effect.gen(function*() {
    yield* Step.run("before", sideEffects.record(run.runId, "before"))
    yield* DurableClock.sleep("wait-a-day", "1 day")
    yield* Step.run("after", sideEffects.record(run.runId, "after"))
    return `${payload.id} woke`
  })
)

let flakyAttempts = 0

const Failing = Workflow.make({
  name: "failing",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.Struct({ flaky: Schema.Number, declined: Schema.String, attempts: Schema.Number }),
  idempotencyKey: (payload) => payload.id
})

const FailingLive = Failing.toLayer((_payload, run) =>
  Effect.gen(function*() {
    const flaky = yield* Step.run(
      "flaky",
      Effect.suspend(() => ++flakyAttempts < 3 ? Effect.fail("not yet") : Effect.succeed(flakyAttempts)),
      { success: Schema.Number, error: Schema.String, retry: Schedule.recurs(5) }
    ).pipe(Effect.orDie)
    const declined = yield* Step.run(
      "charge",
      Effect.zipRight(sideEffects.record(run.runId, "charge"), Effect.fail(new PaymentDeclined({ reason: "card" }))),
      { error: PaymentDeclined }
    ).pipe(Effect.catchTag("PaymentDeclined", (error) => Effect.succeed(error.reason)))
    yield* DurableDeferred.await(Go)
    return { flaky, declined, attempts: flakyAttempts }
  })
)

const Slow = Workflow.make({
  name: "slow",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

// Opened by the step when it starts, so the test moves time only once the step is running.
let slowStarted = Deferred.unsafeMake<void>(FiberId.none)

const SlowLive = Slow.toLayer(() =>
  Step.run("slow-call", Effect.zipRight(Deferred.succeed(slowStarted, undefined), Effect.never), {
    success: Schema.String,
    timeout: "1 minute"
  }).pipe(Effect.catchTag("StepTimeout", (error) => Effect.succeed(`timeout:${error.nodeId}`)))
)

const Crashing = Workflow.make({
  name: "crashing",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const CrashingLive = Crashing.toLayer((_, run) =>
  Effect.gen(function*() {
    const outcome = yield* Step.run(
      "explode",
      Effect.zipRight(sideEffects.record(run.runId, "explode"), Effect.dieMessage("disk on fire"))
    ).pipe(Effect.catchAllDefect((defect) => Effect.succeed(`survived: ${(defect as Error).message}`)))
    yield* DurableDeferred.await(Go)
    return outcome as string
  })
)

const ChangedPipelineLive = Pipeline.toLayer((payload) =>
  Effect.gen(function*() {
    // Version 2 of the code turned step "a" into a timer: the journal cannot follow.
    yield* DurableClock.sleep("a", "1 second")
    return payload.id
  })
)

const workflows = Workflows.Workflows

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    it.scoped("invariant 1: a completed step never runs again, across a runner torn down and a new one", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const runId = yield* withEngine(
          db,
          PipelineLive,
          Effect.gen(function*() {
            yield* sideEffects.setup
            const runId = yield* Pipeline.start({ id: "p-1" })
            yield* GatehouseTest.settle
            assert.strictEqual((yield* (yield* workflows).poll(runId)).status, "suspended")
            assert.deepStrictEqual(yield* sideEffects.count(runId, "a"), 1)
            return runId
          })
        )
        // The first engine is torn down: its runner is gone. A new one on the same database resumes.
        yield* withEngine(
          db,
          PipelineLive,
          Effect.gen(function*() {
            const sent = yield* DurableDeferred.succeed({ runId, deferred: Go }, { note: "ok" })
            assert.strictEqual(sent, "completed")
            assert.deepStrictEqual(yield* Pipeline.result(runId), Exit.succeed("p-1:6:ok"))
            const counts = yield* Effect.all(["a", "b", "c"].map((label) => sideEffects.count(runId, label)))
            assert.deepStrictEqual(counts, [1, 1, 1])
            const inspection = yield* (yield* workflows).inspect(runId)
            assert.deepStrictEqual(inspection.nodes.map((node) => [node.nodeId, node.kind, node.status]), [
              ["a", "step", "completed"],
              ["b", "step", "completed"],
              ["go", "deferred", "completed"],
              ["c", "step", "completed"]
            ])
            assert.strictEqual(inspection.run.claims, 2)
          })
        )
      }))

    it.scoped("a suspended run is resumed by a completion from another process; a second completion is ignored", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const engine = yield* buildEngine(db, PipelineLive)
        const runId = yield* Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Pipeline.start({ id: "p-2" })
          yield* GatehouseTest.settle
          return runId
        }).pipe(provideContext(engine))
        // Another process: only a client on its own connection, no shared in-process signal.
        const outcomes = yield* withClient(
          db,
          Effect.all([
            DurableDeferred.complete({ runId, name: "go" }, Exit.succeed({ note: "first" })),
            DurableDeferred.succeed({ runId, deferred: Go }, { note: "second" })
          ])
        )
        assert.deepStrictEqual(outcomes, ["completed", "already-completed"])
        // The runner learns of it by polling.
        yield* TestClock.adjust("1 second")
        const exit = yield* Pipeline.result(runId).pipe(provideContext(engine))
        assert.deepStrictEqual(exit, Exit.succeed("p-2:6:first"))
      }))

    it.scoped("a completion that arrives before the await is kept", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const engine = yield* buildEngine(db, Layer.empty)
        const runId = yield* Pipeline.start({ id: "p-early" }).pipe(provideContext(engine))
        yield* DurableDeferred.succeed({ runId, deferred: Go }, { note: "early" }).pipe(provideContext(engine))
        const exit = yield* withEngine(db, PipelineLive, Effect.gen(function*() {
          yield* sideEffects.setup
          return yield* Pipeline.result(runId)
        }))
        assert.deepStrictEqual(exit, Exit.succeed("p-early:6:early"))
      }))

    it.scoped("DurableClock.sleep(\"1 day\") finishes after TestClock.adjust(\"1 day\") and not before", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const engine = yield* buildEngine(db, SleeperLive, { pollInterval: "1 hour" })
        yield* Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Sleeper.start({ id: "s-1" })
          yield* GatehouseTest.settle
          const client = yield* workflows
          const waiting = yield* client.poll(runId)
          assert.strictEqual(waiting.status, "suspended")
          assert.isDefined(waiting.wakeAt)
          yield* TestClock.adjust("23 hours")
          yield* GatehouseTest.settle
          assert.strictEqual((yield* client.poll(runId)).status, "suspended")
          assert.strictEqual(yield* sideEffects.count(runId, "after"), 0)
          yield* TestClock.adjust("1 hour")
          assert.deepStrictEqual(yield* Sleeper.result(runId), Exit.succeed("s-1 woke"))
          assert.deepStrictEqual(yield* sideEffects.count(runId, "before"), 1)
          assert.deepStrictEqual(yield* sideEffects.count(runId, "after"), 1)
        }).pipe(provideContext(engine))
      }))

    it.scoped("step retry with a Schedule, step failure recorded and returned on replay", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        flakyAttempts = 0
        const runId = yield* withEngine(db, FailingLive, Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Failing.start({ id: "f-1" })
          yield* GatehouseTest.settle
          return runId
        }))
        assert.strictEqual(flakyAttempts, 3)
        const exit = yield* withEngine(db, FailingLive, Effect.gen(function*() {
          yield* DurableDeferred.succeed({ runId, deferred: Go }, { note: "go" })
          return yield* Failing.result(runId)
        }))
        // Replay returned the recorded success of "flaky" and the recorded failure of "charge".
        assert.deepStrictEqual(exit, Exit.succeed({ flaky: 3, declined: "card", attempts: 3 }))
        const nodes = yield* withClient(db, Effect.gen(function*() {
          assert.strictEqual(yield* sideEffects.count(runId, "charge"), 1)
          return (yield* (yield* workflows).inspect(runId)).nodes
        }))
        const flaky = nodes.find((node) => node.nodeId === "flaky")!
        const charge = nodes.find((node) => node.nodeId === "charge")!
        assert.strictEqual(flaky.attempt, 3)
        assert.strictEqual((charge.exit as any)._tag, "Failure")
      }))

    it.scoped("a step's defect is recorded and returned on replay without running again", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const runId = yield* withEngine(db, CrashingLive, Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Crashing.start({ id: "boom" })
          yield* GatehouseTest.settle
          return runId
        }))
        const exit = yield* withEngine(db, CrashingLive, Effect.gen(function*() {
          yield* DurableDeferred.succeed({ runId, deferred: Go }, { note: "go" })
          const exit = yield* Crashing.result(runId)
          assert.strictEqual(yield* sideEffects.count(runId, "explode"), 1)
          const node = (yield* (yield* workflows).inspect(runId)).nodes[0]
          assert.strictEqual((node.exit as any).cause._tag, "Die")
          return exit
        }))
        assert.deepStrictEqual(exit, Exit.succeed("survived: disk on fire"))
      }))

    it.scoped("step timeout", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const engine = yield* buildEngine(db, SlowLive)
        yield* Effect.gen(function*() {
          slowStarted = yield* Deferred.make<void>()
          const runId = yield* Slow.start({ id: "slow-1" })
          const client = yield* workflows
          yield* Deferred.await(slowStarted)
          // The step's timer is registered just after it starts: move time a minute at a time until the
          // run has ended (the first or second move fires it).
          yield* TestClock.adjust("1 minute").pipe(
            Effect.zipRight(client.poll(runId)),
            Effect.repeat({ until: (run) => Run.isTerminal(run.status) })
          )
          assert.deepStrictEqual(yield* Slow.result(runId), Exit.succeed("timeout:slow-call"))
          const node = (yield* client.inspect(runId)).nodes[0]
          assert.strictEqual(node.nodeId, "slow-call")
          assert.strictEqual((node.exit as any)._tag, "Failure")
        }).pipe(provideContext(engine))
      }))

    it.scoped("starting the same workflow with the same idempotency key twice gives one run", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withClient(db, Effect.gen(function*() {
          const first = yield* Pipeline.start({ id: "same" })
          const second = yield* Pipeline.start({ id: "same" })
          assert.strictEqual(first, second)
          const page = yield* (yield* workflows).list({ workflow: "pipeline" })
          assert.strictEqual(page.runs.length, 1)
        }).pipe(Effect.provide(Layer.empty)))
      }))

    it.scoped("non-determinism is detected, reported, and leaves the journal untouched", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const runId = yield* withEngine(db, PipelineLive, Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Pipeline.start({ id: "nd" })
          yield* GatehouseTest.settle
          return runId
        }))
        const run = yield* withEngine(db, ChangedPipelineLive, Effect.gen(function*() {
          yield* DurableDeferred.succeed({ runId, deferred: Go }, { note: "ok" })
          const exit = yield* Pipeline.result(runId)
          assert.isTrue(Exit.isFailure(exit))
          return yield* (yield* workflows).inspect(runId)
        }))
        assert.strictEqual(run.run.status, "failed")
        assert.include(run.run.error, "node \"a\"")
        assert.include(run.run.error, "recorded as a step")
        const a = run.nodes.find((node) => node.nodeId === "a")!
        assert.strictEqual(a.kind, "step")
        assert.strictEqual(a.status, "completed")
      }))

    it.scoped("cancel: a waiting run ends canceled and its deferred can no longer resume it", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const engine = yield* buildEngine(db, PipelineLive)
        yield* Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Pipeline.start({ id: "c-1" })
          yield* GatehouseTest.settle
          const client = yield* workflows
          const canceled = yield* client.cancel(runId, { by: "operator", reason: "customer withdrew" })
          assert.strictEqual(canceled.status, "canceled")
          assert.strictEqual(canceled.run.status, "canceled")
          const again = yield* client.cancel(runId, { by: "operator" })
          assert.strictEqual(again.status, "already-finished")
          const completion = yield* DurableDeferred.succeed({ runId, deferred: Go }, { note: "late" }).pipe(Effect.flip)
          assert.strictEqual(completion._tag, "RunNotActive")
          const exit = yield* Pipeline.result(runId)
          assert.deepStrictEqual(exit, Exit.fail(new Run.RunCanceled({ runId, reason: "canceled by operator: customer withdrew" })))
          const nodes = (yield* client.inspect(runId)).nodes
          assert.deepStrictEqual(nodes.find((node) => node.nodeId === "go")?.status, "canceled")
          yield* GatehouseTest.settle
          assert.strictEqual(yield* sideEffects.count(runId, "c"), 0)
        }).pipe(provideContext(engine))
      }))

    it.scoped("bad input gets typed errors and stores nothing", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withClient(db, Effect.gen(function*() {
          const client = yield* workflows
          const bad = yield* Pipeline.start({ id: 42 } as any).pipe(Effect.flip)
          assert.strictEqual(bad._tag, "InvalidPayload")
          assert.include(bad.message, "pipeline")
          assert.strictEqual((yield* client.list()).runs.length, 0)

          const unknown = yield* client.poll("no-such-run").pipe(Effect.flip)
          assert.strictEqual(unknown._tag, "RunNotFound")
          assert.strictEqual((yield* client.cancel("no-such-run", { by: "x" }).pipe(Effect.flip))._tag, "RunNotFound")
          const missing = yield* DurableDeferred.succeed({ runId: "no-such-run", deferred: Go }, { note: "x" }).pipe(
            Effect.flip
          )
          assert.strictEqual(missing._tag, "RunNotFound")

          const runId = yield* Pipeline.start({ id: "bad-completion" })
          const invalid = yield* DurableDeferred.succeed({ runId, deferred: Go }, { note: 7 } as any).pipe(Effect.flip)
          assert.strictEqual(invalid._tag, "InvalidPayload")
          const invalidByName = yield* DurableDeferred.complete({ runId, name: "go" }, Exit.succeed({ note: 7 })).pipe(
            Effect.flip
          )
          assert.strictEqual(invalidByName._tag, "InvalidPayload")
          const unknownName = yield* DurableDeferred.complete({ runId, name: "nope" }, Exit.succeed(1)).pipe(Effect.flip)
          assert.strictEqual(unknownName._tag, "InvalidPayload")
          // A deferred's refused completion says it is about the deferred, not about a workflow's payload.
          for (const [error, name] of [[invalid, "go"], [invalidByName, "go"], [unknownName, "nope"]] as const) {
            assert.include(error.message, `Invalid completion of deferred "${name}"`)
            assert.notInclude(error.message, "payload for workflow")
            assert.strictEqual((error as Run.InvalidPayload).deferred, name)
          }
          const invalidJson = yield* client.completeDeferredJson({
            runId,
            name: "go",
            exit: { _tag: "Success", value: { note: 7 } }
          }).pipe(Effect.flip)
          assert.strictEqual(invalidJson._tag, "InvalidPayload")
          assert.include(invalidJson.message, `Invalid completion of deferred "go"`)
          const badName = yield* client.completeDeferredJson({ runId, name: "", exit: { _tag: "Success", value: 1 } }).pipe(
            Effect.flip
          )
          assert.include(badName.message, "Invalid completion of deferred")
          assert.deepStrictEqual((yield* client.inspect(runId)).nodes, [])

          const badList = yield* client.list({ limit: 0 }).pipe(Effect.flip)
          assert.strictEqual(badList._tag, "InvalidRequest")
          const badCursor = yield* client.list({ cursor: "nonsense" }).pipe(Effect.flip)
          assert.strictEqual(badCursor._tag, "InvalidRequest")
          const badCancel = yield* client.cancel(runId, { by: "  " }).pipe(Effect.flip)
          assert.strictEqual(badCancel._tag, "InvalidRequest")
          assert.strictEqual((yield* client.poll(runId)).status, "pending")
        }))
      }))

    it.scoped("list pages through runs with a cursor", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withClient(db, Effect.gen(function*() {
          const client = yield* workflows
          for (let i = 0; i < 5; i++) {
            yield* Pipeline.start({ id: `page-${i}` })
            yield* TestClock.adjust("1 second")
          }
          const first = yield* client.list({ limit: 2 })
          const second = yield* client.list({ limit: 2, cursor: first.cursor! })
          const third = yield* client.list({ limit: 2, cursor: second.cursor! })
          const ids = [...first.runs, ...second.runs, ...third.runs].map((run) => run.payload)
          assert.deepStrictEqual(ids, [4, 3, 2, 1, 0].map((i) => ({ id: `page-${i}` })))
          assert.isUndefined(third.cursor)
        }))
      }))
  })
