/**
 * Benchmark: throughput with N runner processes. For each N in `BENCH_RUNNERS` (default "1,2,4"), a fresh
 * schema, N runner processes (`test/bench/worker.ts`, `Gatehouse.layerPg`, concurrency 32 each), then
 * `BENCH_RUNS` (default 500) runs of a 5-step workflow started at once; timed from the first start to the
 * last run completed (observed by polling the runs table every 20ms).
 *
 * Prints one JSON line with a row per N. Run with `npx tsx test/bench/throughput.ts`. `measureThroughput` is
 * also used by `test/bench/all.ts`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { performance } from "node:perf_hooks"
import * as os from "node:os"
import { isMain, makeDatabase, round, spawnRunners } from "./shared.js"
import { Five } from "./worker.js"

const runs = Number(process.env.BENCH_RUNS ?? 500)
const runnerCounts = (process.env.BENCH_RUNNERS ?? "1,2,4").split(",").map(Number)

/** `runs` runs of the 5-step workflow started at once on a fresh schema with `runners` runner processes. */
export const measureThroughput = (runners: number, runs: number) =>
  Effect.scoped(Effect.gen(function*() {
    const { client, url } = yield* makeDatabase
    return yield* Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* spawnRunners(url, runners)
      const start = performance.now()
      // Started at once: one `startMany` (one statement, one transaction, one wake-up).
      yield* Five.startMany(Array.from({ length: runs }, (_, n) => ({ n })))
      const startedMs = performance.now() - start
      yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_runs WHERE status = 'completed'`.pipe(
        Effect.repeat({ until: (rows) => Number(rows[0].n) === runs, schedule: Schedule.spaced("20 millis") }),
        Effect.timeout("300 seconds")
      )
      const seconds = (performance.now() - start) / 1000
      return {
        runners,
        seconds: round(seconds, 3),
        startMs: round(startedMs, 1),
        // From the last start returning to the last run completed.
        drainMs: round(seconds * 1000 - startedMs, 1),
        runsPerSecond: round(runs / seconds, 1),
        stepsPerSecond: round((runs * 5) / seconds, 1)
      }
    }).pipe(Effect.provide(client))
  }))

const program = Effect.gen(function*() {
  const results = []
  for (const n of runnerCounts) results.push(yield* measureThroughput(n, runs))
  yield* Console.log(JSON.stringify({
    bench: "throughput",
    dialect: "pg",
    runs,
    stepsPerRun: 5,
    cpus: os.cpus().length,
    results
  }))
})

if (isMain(import.meta.url)) {
  Effect.runPromise(program).then(() => process.exit(0), (error) => {
    process.stderr.write(String(error) + "\n")
    process.exit(1)
  })
}
