import { assert, describe, it } from "@effect/vitest"
import { Runner, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"
import { buildClient, buildEngine, provideContext } from "./utils/engine.js"

const Work = Workflow.make({
  name: "cancel-race-work",
  payload: Schema.Struct({ n: Schema.Number }),
  success: Schema.Number,
  idempotencyKey: (payload) => String(payload.n)
})

// One sequence for the whole process: every step start and every acknowledged cancel takes a number from
// it, so "started after the cancel returned" is an exact comparison (both runners and every canceller
// run in this process).
let sequence = 0
const starts = new Map<string, Array<number>>()

const STEPS = 100_000

// Steps without end, short ones: every run spends its time starting steps and writing checkpoints, until
// it is canceled.
const WorkLive = Work.toLayer((payload, run) =>
  Effect.gen(function*() {
    for (let step = 0; step < STEPS; step++) {
      yield* Step.run(
        `s${step}`,
        Effect.suspend(() => {
          const seen = starts.get(run.runId) ?? []
          seen.push(++sequence)
          starts.set(run.runId, seen)
          return step % 5 === 4 ? Effect.sleep("1 millis") : Effect.void
        })
      )
    }
    return payload.n
  })
)

const Stuck = Workflow.make({
  name: "cancel-race-stuck",
  payload: Schema.Struct({ id: Schema.String }),
  idempotencyKey: (payload) => payload.id
})

const stopped = new Set<string>()

// A step that never ends and takes a moment to stop when interrupted (its cleanup); its end is noted.
const StuckLive = Stuck.toLayer((_, run) =>
  Step.run(
    "forever",
    Effect.zipRight(
      Effect.sync(() => starts.set(run.runId, [++sequence])),
      Effect.never.pipe(
        Effect.onInterrupt(() => Effect.sleep("200 millis").pipe(Effect.zipRight(Effect.sync(() => stopped.add(run.runId)))))
      )
    )
  )
)

const shuffled = <A>(items: ReadonlyArray<A>): Array<A> => {
  const copy = [...items]
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[copy[i], copy[j]] = [copy[j], copy[i]]
  }
  return copy
}

describe.skipIf(!pgAvailable)("cancel race (PostgreSQL)", () => {
  it.scopedLive("steps start after a cancel was acknowledged: cancel returns only once the run has stopped", () =>
    Effect.gen(function*() {
      const db = yield* pg
      const engine = yield* buildEngine(db, StuckLive, { pollInterval: "100 millis", runnerId: "cancel-stuck" })
      const client = yield* buildClient(db)
      for (const [id, from] of [["here", engine], ["elsewhere", client]] as const) {
        const runId = yield* Stuck.start({ id }).pipe(provideContext(engine))
        yield* Effect.sync(() => starts.has(runId)).pipe(
          Effect.repeat({ until: (started) => started, schedule: Schedule.spaced("5 millis") }),
          Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`${runId} did not start`) })
        )
        const outcome = yield* Effect.flatMap(Workflows.Workflows, (workflows) =>
          workflows.cancel(runId, { by: "operator" })).pipe(provideContext(from))
        // Nothing of the run is left running, in this process or any, when the cancel returns.
        assert.isTrue(stopped.has(runId), `${id}: the run's fiber was interrupted before cancel returned`)
        assert.strictEqual(outcome.run.status, "canceled")
        assert.strictEqual(outcome.run.leaseOwner, undefined, `${id}: no runner holds the run`)
        const active = yield* Effect.flatMap(Runner.Runner, (runner) => runner.active).pipe(provideContext(engine))
        assert.isFalse(active.includes(runId as never), `${id}: the runner no longer executes the run`)
      }
    }), { timeout: 60_000 })

  it.scopedLive("steps start after a cancel was acknowledged: never, with 2 runners and 8 concurrent cancellers", () =>
    Effect.gen(function*() {
      const db = yield* pg
      const options = { concurrency: 100, pollInterval: "100 millis" } as const
      const runnerA = yield* buildEngine(db, WorkLive, { ...options, runnerId: "cancel-race-a" })
      const runnerB = yield* buildEngine(db, WorkLive, { ...options, runnerId: "cancel-race-b" })
      const client = yield* buildClient(db)
      const RUNS = 200
      const runIds = yield* Work.startMany(Array.from({ length: RUNS }, (_, n) => ({ n }))).pipe(
        provideContext(runnerA)
      )
      assert.strictEqual(runIds.length, RUNS)
      // Cancel while the runs are being worked: once every run has started steps.
      yield* Effect.sync(() => runIds.filter((runId) => starts.has(runId)).length).pipe(
        Effect.repeat({ until: (n) => n === RUNS, schedule: Schedule.spaced("20 millis") }),
        Effect.timeoutFail({ duration: "120 seconds", onTimeout: () => new Error("not every run started in 120 s") })
      )
      const acks = new Map<string, number>()
      const failures: Array<unknown> = []
      const order = shuffled(runIds)
      // Eight cancellers at once: two in the process of runner A (its runs are interrupted by the in-process
      // signal, runner B's through NOTIFY), six in a client of their own (NOTIFY for both).
      yield* Effect.forEach(Array.from({ length: 8 }, (_, k) => k), (k) =>
        Effect.gen(function*() {
          const workflows = yield* Workflows.Workflows
          for (const runId of order.filter((_, index) => index % 8 === k)) {
            const outcome = yield* workflows.cancel(runId, { by: `canceller-${k}` }).pipe(
              Effect.tapError((error) => Effect.sync(() => failures.push(error))),
              Effect.option
            )
            if (outcome._tag === "Some" && outcome.value.status === "canceled") acks.set(runId, ++sequence)
          }
        }).pipe(k < 2 ? provideContext(runnerA) : provideContext(client)), { concurrency: "unbounded" })
      // Both runners have stopped every run.
      const busy = Effect.gen(function*() {
        const a = yield* Effect.flatMap(Runner.Runner, (runner) => runner.active).pipe(provideContext(runnerA))
        const b = yield* Effect.flatMap(Runner.Runner, (runner) => runner.active).pipe(provideContext(runnerB))
        return a.length + b.length
      })
      yield* busy.pipe(
        Effect.repeat({ until: (n) => n === 0, schedule: Schedule.spaced("20 millis") }),
        Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error("runners still busy after 60 s") })
      )
      assert.deepStrictEqual(failures, [], "every cancel succeeded")
      const late: Array<string> = []
      let interrupted = 0
      for (const [runId, ack] of acks) {
        const seen = starts.get(runId) ?? []
        for (const started of seen) if (started > ack) late.push(`${runId}: step start #${started} after cancel #${ack}`)
        if (seen.length > 0) interrupted++
      }
      assert.deepStrictEqual(late, [], "no step of a canceled run started after its cancel returned")
      // Every cancel hit a run that was being worked.
      assert.strictEqual(acks.size, RUNS)
      assert.strictEqual(interrupted, RUNS)
      yield* Effect.logInfo(`cancel race: ${acks.size} runs canceled mid-run`)
    }), { timeout: 300_000 })
})
