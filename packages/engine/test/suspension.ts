/**
 * What a workflow body sees of a suspension (invariant 7): nothing. A wait that cannot be answered blocks
 * its fiber; the run is stored suspended once nothing of it is busy, and its fibers are then interrupted
 * from outside, so no error handler of the body runs and nothing after the wait starts, whatever the body
 * does with the fiber. Every durable node forked beside the wait is recorded first.
 */
import { assert, describe, it } from "@effect/vitest"
import { Approval, Approvals, DurableDeferred, GatehouseTest, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext } from "./utils/engine.js"

/** Plain code of the bodies (not steps) that ran, per run: what an error handler or a finalizer did. */
const seen = new Map<string, Array<string>>()
const see = (runId: string, what: string) =>
  Effect.sync(() => {
    seen.set(runId, [...(seen.get(runId) ?? []), what])
  })
const seenBy = (runId: string) => seen.get(runId) ?? []

const Gate = { title: "Ship it?", reviewers: { users: ["lead"] } }

// Defect 2 of issue 19: an approval forked and awaited with `Fiber.await`.
const Awaited = Workflow.make({
  name: "suspension-awaited",
  payload: Schema.Struct({ id: Schema.String, join: Schema.Boolean }),
  idempotencyKey: (payload) => payload.id
})

const AwaitedLive = Awaited.toLayer((payload, run) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(Approval.request("gate", Gate))
    if (payload.join) {
      yield* Fiber.join(fiber).pipe(Effect.catchAllCause(() => see(run.runId, "join failed")))
    } else {
      const exit = yield* Fiber.await(fiber)
      if (Exit.isFailure(exit)) yield* see(run.runId, "await failed")
    }
    yield* Step.run("after", see(run.runId, "after"))
  })
)

// Defect 3 of issue 19: every way Effect offers to look at a failure, around a wait.
const handlers = ["catchAllCause", "tapErrorCause", "exit", "either", "sandbox", "catchAllDefect"] as const

const Handled = Workflow.make({
  name: "suspension-handled",
  payload: Schema.Struct({ id: Schema.String, handler: Schema.Literal(...handlers) }),
  idempotencyKey: (payload) => payload.id
})

const Resume = DurableDeferred.make("suspension-resume")

const HandledLive = Handled.toLayer((payload, run) =>
  Effect.gen(function*() {
    const handled = (name: string) => see(run.runId, `handler ${name}`)
    const wait = Effect.scoped(
      Effect.zipRight(
        Effect.acquireRelease(see(run.runId, "acquired"), () => see(run.runId, "released")),
        DurableDeferred.await(Resume)
      )
    )
    switch (payload.handler) {
      case "catchAllCause":
        yield* wait.pipe(Effect.catchAllCause(() => handled("catchAllCause")))
        break
      case "tapErrorCause":
        yield* wait.pipe(Effect.tapErrorCause(() => handled("tapErrorCause")))
        break
      case "exit":
        if (Exit.isFailure(yield* Effect.exit(wait))) yield* handled("exit")
        break
      case "either":
        if ((yield* Effect.either(Effect.sandbox(wait)))._tag === "Left") yield* handled("either")
        break
      case "sandbox":
        yield* wait.pipe(Effect.sandbox, Effect.catchAll(() => handled("sandbox")))
        break
      case "catchAllDefect":
        yield* wait.pipe(Effect.catchAllDefect(() => handled("catchAllDefect")))
        break
    }
    yield* see(run.runId, "after")
  })
)

// Defect 5 of issue 19: two approvals requested in parallel.
const Parallel = Workflow.make({
  name: "suspension-parallel",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.Array(Schema.Boolean),
  idempotencyKey: (payload) => payload.id
})

const ParallelLive = Parallel.toLayer((_, run) =>
  Effect.gen(function*() {
    const decisions = yield* Effect.all([
      Approval.request("legal", { title: "Legal sign-off", reviewers: { users: ["lena"] } }),
      Approval.request("finance", { title: "Finance sign-off", reviewers: { users: ["finn"] } }),
      // A step beside them: the run waits for it to be checkpointed before it suspends.
      Effect.as(Step.run("prepare", see(run.runId, "prepare")), undefined)
    ], { concurrency: "unbounded" })
    yield* Step.run("ship", see(run.runId, "ship"))
    return [decisions[0].approved, decisions[1].approved]
  })
)

const AllLive = Layer.mergeAll(AwaitedLive, HandledLive, ParallelLive)

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    const withEngine = <A, E, R>(body: Effect.Effect<A, E, R>) =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const context = yield* buildEngine(db, AllLive, { pollInterval: Duration.infinity })
        return yield* body.pipe(provideContext(context))
      })

    for (const join of [false, true]) {
      const how = join ? "Fiber.join" : "Fiber.await"
      it.scoped(`issue 19 defect 2: an approval awaited through ${how} is not passed without a decision`, () =>
        withEngine(Effect.gen(function*() {
          const workflows = yield* Workflows.Workflows
          const runId = yield* Awaited.start({ id: `awaited-${join}`, join })
          yield* GatehouseTest.settle
          assert.strictEqual((yield* workflows.poll(runId)).status, "waiting-approval")
          assert.deepStrictEqual(seenBy(runId), [])
          const inspection = yield* workflows.inspect(runId)
          assert.deepStrictEqual(inspection.nodes.map((node) => [node.nodeId, node.status]), [["gate", "waiting-approval"]])

          yield* (yield* Approvals.Approvals).decide({ runId, nodeId: "gate", verdict: "approve", by: "lead" })
          assert.deepStrictEqual(yield* Awaited.result(runId), Exit.void)
          assert.deepStrictEqual(seenBy(runId), ["after"])
        })))
    }

    for (const handler of handlers) {
      it.scoped(`issue 19 defect 3: a suspension is invisible to ${handler}, and scoped finalizers still run`, () =>
        withEngine(Effect.gen(function*() {
          const workflows = yield* Workflows.Workflows
          const runId = yield* Handled.start({ id: `handled-${handler}`, handler })
          yield* GatehouseTest.settle
          assert.strictEqual((yield* workflows.poll(runId)).status, "suspended")
          // The resource the body held around the wait was released; no handler ran, nothing after the wait.
          assert.deepStrictEqual(seenBy(runId), ["acquired", "released"])

          yield* DurableDeferred.complete({ runId, deferred: Resume }, Exit.void)
          assert.deepStrictEqual(yield* Handled.result(runId), Exit.void)
          assert.deepStrictEqual(seenBy(runId), ["acquired", "released", "acquired", "released", "after"])
        })))
    }

    it.scoped("issue 19 defect 5: parallel approvals are all recorded before the run suspends; each decision is needed", () =>
      withEngine(Effect.gen(function*() {
        const workflows = yield* Workflows.Workflows
        const approvals = yield* Approvals.Approvals
        const runId = yield* Parallel.start({ id: "parallel" })
        yield* GatehouseTest.settle
        assert.strictEqual((yield* workflows.poll(runId)).status, "waiting-approval")
        const waiting = (yield* approvals.list({ status: "waiting-approval", workflow: "suspension-parallel" })).approvals
        assert.deepStrictEqual(waiting.map((approval) => String(approval.nodeId)).sort(), ["finance", "legal"])
        assert.deepStrictEqual(seenBy(runId), ["prepare"])

        yield* approvals.decide({ runId, nodeId: "legal", verdict: "approve", by: "lena" })
        yield* GatehouseTest.settle
        assert.strictEqual((yield* workflows.poll(runId)).status, "waiting-approval")
        assert.deepStrictEqual(seenBy(runId), ["prepare"])

        yield* approvals.decide({ runId, nodeId: "finance", verdict: "approve", by: "finn" })
        assert.deepStrictEqual(yield* Parallel.result(runId), Exit.succeed([true, true]))
        assert.deepStrictEqual(seenBy(runId), ["prepare", "ship"])
      })))
  })
