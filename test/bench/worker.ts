/**
 * The runner process of the cross-process benchmarks: `node --import tsx test/bench/worker.ts`, with
 * `GATEHOUSE_URL` (the schema in its search path). Runs `Gatehouse.layerPg` with both bench workflows
 * and prints "ready" once it is up.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Approval, Gatehouse, Step, Workflow } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { performance } from "node:perf_hooks"

/** Epoch milliseconds with sub-millisecond precision, comparable between processes of one machine. */
export const preciseNow = () => performance.timeOrigin + performance.now()

export const Resume = Workflow.make({
  name: "bench-resume",
  payload: Schema.Struct({ n: Schema.Number }),
  idempotencyKey: (payload) => String(payload.n)
})

export const Five = Workflow.make({
  name: "bench-five",
  payload: Schema.Struct({ n: Schema.Number }),
  success: Schema.Number,
  idempotencyKey: (payload) => String(payload.n)
})

/** Also run in-process by `test/bench/all.ts` (decide → `result`). */
export const ResumeLive = Resume.toLayer((_, run) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Approval.request("gate", { title: "Resume?" })
    yield* Step.run(
      "after",
      Effect.suspend(() => {
        // Taken first thing in the step that follows the decision.
        const startedAt = preciseNow()
        return sql`INSERT INTO bench_resume (run_id, started_at) VALUES (${run.runId}, ${startedAt})`
      }).pipe(Effect.orDie, Effect.asVoid)
    )
  })
)

export const FiveLive = Five.toLayer(({ n }) =>
  Effect.gen(function*() {
    let total = n
    for (let i = 0; i < 5; i++) total = yield* Step.run(`step-${i}`, Effect.succeed(total + 1), { success: Schema.Number })
    return total
  })
)

if (process.env.GATEHOUSE_URL !== undefined) {
  Effect.runFork(
    Layer.build(Gatehouse.layerPg({
      url: process.env.GATEHOUSE_URL,
      maxConnections: Number(process.env.BENCH_POOL ?? 8),
      concurrency: Number(process.env.BENCH_CONCURRENCY ?? 32),
      workflows: Layer.mergeAll(ResumeLive, FiveLive)
    })).pipe(
      Effect.zipRight(Effect.sync(() => process.stdout.write("ready\n"))),
      Effect.zipRight(Effect.never),
      Effect.scoped
    )
  )
  process.on("SIGTERM", () => process.exit(0))
}
