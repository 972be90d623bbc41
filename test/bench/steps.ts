/**
 * Benchmark: durable sequential steps per second for one workflow, next to the raw rate of single-row
 * committed INSERTs through the same `@effect/sql` client, on PostgreSQL and on SQLite.
 *
 * The workflow body runs `BENCH_STEPS` (default 2000) `Step.run` calls one after another and times itself
 * with `performance.now()`, from just before the first step starts to just after the last one returns
 * (its checkpoint has committed). The raw figure is the same number of autocommit `INSERT` statements,
 * one row each, into a scratch table with the journal's key shape, issued one after another from the
 * engine's own SQL client, right after the steps. `ratio` is steps per second over raw inserts per second.
 * A warm-up of `BENCH_WARMUP` steps (default 500) and as many inserts runs first; then `BENCH_ROUNDS`
 * (default 3) rounds of steps followed by inserts, and the figures are medians over the rounds (the
 * ratio is the median of each round's own ratio, which cancels most of the drift of a shared machine).
 *
 * PostgreSQL: `DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test), a fresh schema per run,
 * dropped at the end. SQLite: a file in a temp directory (WAL), removed at the end.
 *
 * Prints one JSON line on stdout; logs go to stderr. Run with `npx tsx test/bench/steps.ts`. `measureSteps`
 * is also used by `test/bench/all.ts`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Gatehouse, GatehouseTest, Step, Workflow } from "@gatehouse/engine"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { isMain } from "./shared.js"

const intFromEnv = (name: string, fallback: number): number => {
  const value = Number(process.env[name])
  return Number.isInteger(value) && value > 0 ? value : fallback
}

const steps = intFromEnv("BENCH_STEPS", 2000)
const warmup = intFromEnv("BENCH_WARMUP", 500)
const rounds = intFromEnv("BENCH_ROUNDS", 3)
const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const BenchSteps = Workflow.make({
  name: "bench-steps",
  payload: Schema.Struct({ steps: Schema.Int }),
  success: Schema.Struct({ elapsedMs: Schema.Number })
})

export const BenchStepsLive = BenchSteps.toLayer((payload) =>
  Effect.gen(function*() {
    const start = performance.now()
    for (let i = 0; i < payload.steps; i++) {
      yield* Step.run(`step-${i}`, Effect.succeed(i))
    }
    return { elapsedMs: performance.now() - start }
  })
)

export interface StepsOptions {
  readonly steps: number
  readonly warmup: number
  readonly rounds: number
}

interface Round {
  readonly stepsMs: number
  readonly rawMs: number
  readonly executeMs: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const round = (value: number, digits = 1): number => Number(value.toFixed(digits))

/** Medians over the rounds; `ratio` is the median of each round's own ratio (its steps and inserts back to back). */
const summarize = (steps: number, rounds: ReadonlyArray<Round>) => {
  const ratios = rounds.map((r) => r.rawMs / r.stepsMs)
  return {
    stepsPerSec: round(median(rounds.map((r) => steps / (r.stepsMs / 1000)))),
    rawInsertsPerSec: round(median(rounds.map((r) => steps / (r.rawMs / 1000)))),
    ratio: round(median(ratios), 3),
    ratios: ratios.map((ratio) => round(ratio, 3)),
    stepMs: round(median(rounds.map((r) => r.stepsMs / steps)), 3),
    insertMs: round(median(rounds.map((r) => r.rawMs / steps)), 3),
    /** `execute` to result, minus the in-body time: start, claim, journal load, finish and the result's wake-up. */
    executeOverheadMs: round(median(rounds.map((r) => r.executeMs - r.stepsMs)))
  }
}

/** `count` autocommit single-row INSERTs, one after another; the elapsed milliseconds. */
const rawInserts = (sql: SqlClient.SqlClient, label: string, count: number) =>
  Effect.gen(function*() {
    const start = performance.now()
    for (let i = 0; i < count; i++) {
      // The same size of row a step writes: `{"_tag":"Success","value":i}` under a (run, node) key.
      const body = JSON.stringify({ _tag: "Success", value: i })
      yield* sql`INSERT INTO bench_raw (run_id, node_id, body) VALUES (${label}, ${`step-${i}`}, ${body})`
    }
    return performance.now() - start
  })

/** Warm-up, then rounds of one workflow's steps followed by as many raw INSERTs, on the engine in context. */
export const measureSteps = (dialect: string, { rounds, steps, warmup }: StepsOptions) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE bench_raw (run_id TEXT NOT NULL, node_id TEXT NOT NULL, body TEXT NOT NULL,
      PRIMARY KEY (run_id, node_id))`

    yield* Effect.logInfo(`${dialect}: warm-up, ${warmup} steps and ${warmup} inserts`)
    yield* BenchSteps.execute({ steps: warmup })
    yield* rawInserts(sql, "warmup", warmup)

    const measured: Array<Round> = []
    for (let i = 1; i <= rounds; i++) {
      const executeStart = performance.now()
      const { elapsedMs: stepsMs } = yield* BenchSteps.execute({ steps })
      const executeMs = performance.now() - executeStart
      const rawMs = yield* rawInserts(sql, `round-${i}`, steps)
      measured.push({ stepsMs, rawMs, executeMs })
      yield* Effect.logInfo(`${dialect}: round ${i}/${rounds}: steps ${round(stepsMs)} ms, inserts ${round(rawMs)} ms`)
    }
    return summarize(steps, measured)
  })

/** A fresh schema on the server, the engine on it, and the schema dropped afterwards. */
const pg = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_bench" })
  return yield* measureSteps("pg", { steps, warmup, rounds }).pipe(
    Effect.provide(Gatehouse.layerPg({ url, workflows: BenchStepsLive }))
  )
}).pipe(Effect.scoped)

/** A SQLite file (WAL) in a temp directory, removed afterwards. */
const sqlite = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-bench-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const filename = path.join(dir, "bench.db")
  return yield* measureSteps("sqlite", { steps, warmup, rounds }).pipe(
    Effect.provide(Gatehouse.layerSqlite({ filename, workflows: BenchStepsLive }))
  )
}).pipe(Effect.scoped)

/** A dialect that could not be measured reports its error in its field instead of figures. */
const orError = <A, E>(dialect: string, effect: Effect.Effect<A, E>): Effect.Effect<A | { readonly error: string }> =>
  Effect.catchAllCause(effect, (cause) =>
    Effect.as(Effect.logError(`${dialect}: bench failed`, cause), { error: String(Cause.squash(cause)) }))

const main = Effect.gen(function*() {
  const pgFigures = yield* orError("pg", pg)
  const sqliteFigures = yield* orError("sqlite", sqlite)
  yield* Console.log(JSON.stringify({
    bench: "steps",
    steps,
    warmup,
    rounds,
    timing: "in-body: performance.now() before the first Step.run to after the last Step.run returned",
    raw: "autocommit single-row INSERT, one statement per commit, same client, same row count, right after the steps",
    pg: pgFigures,
    sqlite: sqliteFigures,
    node: process.version,
    timestamp: new Date().toISOString()
  }))
  if ("error" in pgFigures || "error" in sqliteFigures) process.exitCode = 1
})

if (isMain(import.meta.url)) {
  main.pipe(
    Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))),
    Effect.runPromise
  ).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
