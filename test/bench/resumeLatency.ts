/**
 * Benchmark: decision-to-resume latency across processes. A runner process (`test/bench/worker.ts`, on
 * PostgreSQL, default options: 1-second polling, LISTEN/NOTIFY on) holds `BENCH_RUNS` (default 200) runs
 * waiting on an approval. This process decides them one at a time through `Approvals.decide`; the figure
 * is the time from `decide` returning to the first instant of the step after the approval, in the runner
 * process (both clocks are the machine's, read with `performance.timeOrigin + performance.now()`).
 *
 * Prints one JSON line. Run with `npx tsx test/bench/resumeLatency.ts`. `measureResume` is also used by
 * `test/bench/all.ts`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Approvals, Workflows } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { isMain, makeDatabase, latencySummary, spawnRunners } from "./shared.js"
import { preciseNow, Resume } from "./worker.js"

const runs = Number(process.env.BENCH_RUNS ?? 200)

/** On a fresh schema: `runs` runs waiting in a runner process, decided here one at a time; latency figures. */
export const measureResume = (runs: number) =>
  Effect.scoped(Effect.gen(function*() {
    const { client, url } = yield* makeDatabase
    return yield* Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE bench_resume (run_id TEXT PRIMARY KEY, started_at DOUBLE PRECISION NOT NULL)`
      yield* spawnRunners(url, 1)
      const runIds = yield* Effect.forEach(Array.from({ length: runs }, (_, n) => n), (n) => Resume.start({ n }), {
        concurrency: 16
      })
      const waiting = sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_approvals
        WHERE status = 'waiting-approval'`
      yield* waiting.pipe(
        Effect.repeat({ until: (rows) => Number(rows[0].n) === runs, schedule: Schedule.spaced("50 millis") }),
        Effect.timeout("60 seconds")
      )
      const approvals = yield* Approvals.Approvals
      const latencies: Array<number> = []
      for (const runId of runIds) {
        yield* approvals.decide({ runId, nodeId: "gate", verdict: "approve", by: "bench" })
        const decidedAt = preciseNow()
        const query = sql<{ started_at: number }>`SELECT started_at FROM bench_resume WHERE run_id = ${runId}`
        const started = yield* query.pipe(
          Effect.filterOrFail((rows) => rows.length > 0, () => "not yet"),
          Effect.retry(Schedule.spaced("2 millis")),
          Effect.timeout("30 seconds")
        )
        latencies.push(Number(started[0].started_at) - decidedAt)
      }
      const workflows = yield* Workflows.Workflows
      yield* workflows.poll(runIds[runIds.length - 1])
      return { runs, ...latencySummary(latencies) }
    }).pipe(Effect.provide(client))
  }))

const program = Effect.gen(function*() {
  const figures = yield* measureResume(runs)
  yield* Console.log(JSON.stringify({ bench: "decision-to-resume", dialect: "pg", across: "processes", ...figures }))
})

if (isMain(import.meta.url)) {
  Effect.runPromise(program).then(() => process.exit(0), (error) => {
    process.stderr.write(String(error) + "\n")
    process.exit(1)
  })
}
