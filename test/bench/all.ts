/**
 * Benchmark: every figure of issue 14 in one run on one PostgreSQL server, each beside the limit it is
 * measured against. `npm run --silent bench:all`. Each part runs on a fresh schema of `DATABASE_URL`
 * (default postgres://postgres@127.0.0.1:5432/test), dropped at its end:
 *
 * 1. raw limits through `@effect/sql-pg` (the engine's driver), a pool of 32 connections: one fiber doing
 *    single-row autocommit INSERTs one after another (`raw1PerSec`); 32 fibers doing the same at once
 *    (`raw32PerSec`), and with a `pg_notify` in the same statement, so in the same commit
 *    (`raw32NotifyPerSec`); 32 fibers each committing `BEGIN; INSERT; COMMIT` (`raw32TxPerSec`) and the same
 *    with `SELECT pg_notify(...)` before the COMMIT, the engine's shape (`raw32TxNotifyPerSec`). Nobody
 *    listens on the channel: the commit path's cost alone, as pgbench would see it. Each figure is timed
 *    over `BENCH_RAW_SECONDS`, after a warm-up, in `BENCH_RAW_ROUNDS` interleaved rounds; medians.
 * 2. sequential steps/s of one run in this process (`test/bench/steps.ts`, PostgreSQL only), with the
 *    1-client INSERT rate measured right after the steps in the same rounds; `sequentialRatio` is the
 *    median of each round's own ratio.
 * 3. `BENCH_PARALLEL_RUNS` runs × 5 steps started at once, with 1 and then 2 runner processes
 *    (`test/bench/throughput.ts`): runs/s, steps/s, time to start them; `parallelRatio` is the steps/s
 *    with one runner over `raw32PerSec`.
 * 4. `BENCH_SUSPEND_RUNS` runs of a workflow whose first node is `Approval.request`, one runner process:
 *    from the first start to the last run `waiting-approval`, runs/s (`suspendPerSec`).
 * 5. decide → the next step in a runner process (`test/bench/resumeLatency.ts`, `BENCH_RESUME_RUNS` runs):
 *    `resumeP50Ms`, `resumeP99Ms`; and decide → `result` in this process (its own runner,
 *    `BENCH_RESULT_RUNS` runs one at a time): `resultP50Ms`, `resultP99Ms`. Their ratio is to the time of
 *    one raw commit (1000 / `raw1PerSec`).
 * 6. the inbox: `test/bench/inbox.ts` as a child process (it keeps and reuses its own seeded schema); its
 *    last stdout line gives `inboxP99Ms` and `inboxApprovals`. Without that file: null and 0.
 *
 * Environment (counts are positive integers; a bad value falls back to the default):
 * - `DATABASE_URL`          the server, see above.
 * - `BENCH_QUICK=1`         small defaults for a smoke run (shown in brackets below).
 * - `BENCH_PARTS`           comma-separated subset of raw,sequential,parallel,suspend,resume,result,inbox
 *                           (default all; the ratios of a part whose limit was not measured are null).
 * - `BENCH_RAW_SECONDS`     seconds per raw measurement, default 3 [1].
 * - `BENCH_RAW_ROUNDS`      rounds of the raw measurements, default 3 [1].
 * - `BENCH_STEPS`, `BENCH_WARMUP`, `BENCH_ROUNDS`  part 2: steps per round 2000 [300], warm-up 500 [100],
 *                           rounds 3 [1].
 * - `BENCH_PARALLEL_RUNS`   part 3: runs started at once, default 500 [100].
 * - `BENCH_SUSPEND_RUNS`    part 4: runs, default 10000 [500].
 * - `BENCH_RESUME_RUNS`     part 5, across processes: runs, default 200 [30].
 * - `BENCH_RESULT_RUNS`     part 5, in process: runs, default 200 [30].
 * - `BENCH_INBOX_TIMEOUT`   part 6: seconds before the inbox bench is killed, default 1800.
 * - `BENCH_POOL`, `BENCH_CONCURRENCY`  the runner processes' pool size (8) and concurrency (32), read by
 *                           `test/bench/worker.ts`; every other variable also reaches the inbox bench.
 *
 * Progress goes to stderr. The last stdout line is one JSON object: the headline figures at top level,
 * detail per part under `parts` (a part that failed has `error` there and null figures; the exit code is
 * 1 then), the cpu count, the load average before and after, the node version and a timestamp.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Approvals, Gatehouse, GatehouseTest } from "@gatehouse/engine"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { tsxArgs } from "../tsx.js"
import { measureResume } from "./resumeLatency.js"
import { databaseUrl, makeDatabase, latencySummary, round, spawnRunners } from "./shared.js"
import { BenchStepsLive, measureSteps } from "./steps.js"
import { measureThroughput } from "./throughput.js"
import { Resume, ResumeLive } from "./worker.js"

const quick = process.env.BENCH_QUICK === "1"

const intFromEnv = (name: string, fallback: number, quickFallback: number): number => {
  const value = Number(process.env[name])
  return Number.isInteger(value) && value > 0 ? value : quick ? quickFallback : fallback
}

const config = {
  rawSeconds: intFromEnv("BENCH_RAW_SECONDS", 3, 1),
  rawRounds: intFromEnv("BENCH_RAW_ROUNDS", 3, 1),
  steps: intFromEnv("BENCH_STEPS", 2000, 300),
  stepsWarmup: intFromEnv("BENCH_WARMUP", 500, 100),
  stepsRounds: intFromEnv("BENCH_ROUNDS", 3, 1),
  parallelRuns: intFromEnv("BENCH_PARALLEL_RUNS", 500, 100),
  suspendRuns: intFromEnv("BENCH_SUSPEND_RUNS", 10_000, 500),
  resumeRuns: intFromEnv("BENCH_RESUME_RUNS", 200, 30),
  resultRuns: intFromEnv("BENCH_RESULT_RUNS", 200, 30),
  inboxTimeoutSeconds: intFromEnv("BENCH_INBOX_TIMEOUT", 1800, 1800)
}

const allParts = ["raw", "sequential", "parallel", "suspend", "resume", "result", "inbox"] as const
type Part = typeof allParts[number]
const selected: ReadonlySet<string> = new Set(
  process.env.BENCH_PARTS?.split(",").map((part) => part.trim()).filter((part) => part !== "") ?? allParts
)

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const ratio = (value: number | null | undefined, limit: number | null | undefined, digits = 3): number | null =>
  value == null || limit == null || !(limit > 0) ? null : round(value / limit, digits)

// ---------------------------------------------------------------------------------------------------------
// 1. raw limits

type Commit = (sql: SqlClient.SqlClient, key: string, i: number) => Effect.Effect<unknown, unknown>

// The size of row a step writes: `{"_tag":"Success","value":i}` under a (run, node) key.
const insert = (sql: SqlClient.SqlClient, key: string, i: number) =>
  sql`INSERT INTO bench_raw (run_id, node_id, body) VALUES (${key}, ${String(i)}, ${
    JSON.stringify({ _tag: "Success", value: i })
  })`

const notify = (sql: SqlClient.SqlClient, key: string, i: number) =>
  sql`SELECT pg_notify('gh_bench_raw', ${`${key}:${i}`})`

const commits: Record<"autocommit" | "autocommitNotify" | "transaction" | "transactionNotify", Commit> = {
  autocommit: insert,
  // One statement, so one round trip and one commit like `autocommit`: the INSERT and the NOTIFY commit together.
  autocommitNotify: (sql, key, i) =>
    sql`WITH inserted AS (INSERT INTO bench_raw (run_id, node_id, body) VALUES (${key}, ${String(i)}, ${
      JSON.stringify({ _tag: "Success", value: i })
    }) RETURNING 1) SELECT pg_notify('gh_bench_raw', ${`${key}:${i}`}) FROM inserted`,
  // The engine's shape: its writes, then `pg_notify`, in one transaction.
  transaction: (sql, key, i) => sql.withTransaction(insert(sql, key, i)),
  transactionNotify: (sql, key, i) => sql.withTransaction(Effect.zipRight(insert(sql, key, i), notify(sql, key, i)))
}

/** `clients` fibers committing one after another until `seconds` are over; commits per second overall. */
const commitRate = (sql: SqlClient.SqlClient, label: string, clients: number, seconds: number, commit: Commit) =>
  Effect.gen(function*() {
    const start = performance.now()
    const deadline = start + seconds * 1000
    const counts = yield* Effect.forEach(
      Array.from({ length: clients }, (_, client) => `${label}-${client}`),
      (key) =>
        Effect.gen(function*() {
          let i = 0
          while (performance.now() < deadline) yield* commit(sql, key, i++)
          return i
        }),
      { concurrency: "unbounded" }
    )
    return counts.reduce((a, b) => a + b, 0) / ((performance.now() - start) / 1000)
  })

const raw = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_bench" })
  const sql = Context.get(
    yield* Layer.build(PgClient.layer({ url: Redacted.make(url), maxConnections: 32 })),
    SqlClient.SqlClient
  )
  yield* sql`CREATE TABLE bench_raw (run_id TEXT NOT NULL, node_id TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (run_id, node_id))`
  yield* Effect.logInfo("raw: warm-up (32 connections)")
  yield* commitRate(sql, "warmup", 32, 1, commits.autocommit)
  const measured: Record<"raw1" | "raw32" | "raw32Notify" | "raw32Tx" | "raw32TxNotify", Array<number>> = {
    raw1: [],
    raw32: [],
    raw32Notify: [],
    raw32Tx: [],
    raw32TxNotify: []
  }
  for (let r = 1; r <= config.rawRounds; r++) {
    measured.raw1.push(yield* commitRate(sql, `r${r}-1`, 1, config.rawSeconds, commits.autocommit))
    measured.raw32.push(yield* commitRate(sql, `r${r}-32`, 32, config.rawSeconds, commits.autocommit))
    measured.raw32Notify.push(yield* commitRate(sql, `r${r}-n`, 32, config.rawSeconds, commits.autocommitNotify))
    measured.raw32Tx.push(yield* commitRate(sql, `r${r}-tx`, 32, config.rawSeconds, commits.transaction))
    measured.raw32TxNotify.push(yield* commitRate(sql, `r${r}-txn`, 32, config.rawSeconds, commits.transactionNotify))
    const last = (key: keyof typeof measured) => round(measured[key].at(-1)!, 0)
    yield* Effect.logInfo(
      `raw: round ${r}/${config.rawRounds}: 1 client ${last("raw1")}/s; 32 clients ${last("raw32")}/s, ` +
        `with pg_notify ${last("raw32Notify")}/s; 32 in BEGIN/COMMIT ${last("raw32Tx")}/s, with pg_notify ` +
        `${last("raw32TxNotify")}/s`
    )
  }
  const figures = {
    raw1PerSec: round(median(measured.raw1), 1),
    raw32PerSec: round(median(measured.raw32), 1),
    raw32NotifyPerSec: round(median(measured.raw32Notify), 1),
    raw32TxPerSec: round(median(measured.raw32Tx), 1),
    raw32TxNotifyPerSec: round(median(measured.raw32TxNotify), 1)
  }
  return {
    ...figures,
    // What NOTIFY in the committing transaction leaves of the commit rate (1: it costs nothing).
    notifyRatio: ratio(figures.raw32NotifyPerSec, figures.raw32PerSec),
    txNotifyRatio: ratio(figures.raw32TxNotifyPerSec, figures.raw32TxPerSec),
    commitMs: round(1000 / figures.raw1PerSec, 3),
    rounds: Object.fromEntries(Object.entries(measured).map(([key, values]) => [key, values.map((x) => round(x, 0))])),
    seconds: config.rawSeconds,
    what: "single-row INSERTs into a (text, text) primary key with a short JSON text body; 1 fiber, or 32 " +
      "fibers on a pool of 32 connections, each committing one after another. raw32Notify: the INSERT and " +
      "pg_notify in one statement (WITH … INSERT … SELECT pg_notify), one commit; raw32Tx: BEGIN, INSERT, " +
      "COMMIT; raw32TxNotify: BEGIN, INSERT, SELECT pg_notify, COMMIT (the engine's shape). Nobody listens."
  }
}).pipe(Effect.scoped)

// ---------------------------------------------------------------------------------------------------------
// 2. sequential steps of one run

const sequential = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_bench" })
  const options = { steps: config.steps, warmup: config.stepsWarmup, rounds: config.stepsRounds }
  return yield* measureSteps("pg", options).pipe(Effect.provide(Gatehouse.layerPg({ url, workflows: BenchStepsLive })))
}).pipe(Effect.scoped)

// ---------------------------------------------------------------------------------------------------------
// 4. runs reaching a waiting approval

const suspend = Effect.gen(function*() {
  const runs = config.suspendRuns
  const { client, url } = yield* makeDatabase
  return yield* Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* spawnRunners(url, 1)
    const start = performance.now()
    // Started in batches of 500 (`startMany`: one statement each), the runner working meanwhile.
    for (let from = 0; from < runs; from += 500) {
      yield* Resume.startMany(Array.from({ length: Math.min(500, runs - from) }, (_, n) => ({ n: from + n })))
    }
    const startedMs = performance.now() - start
    yield* Effect.logInfo(`suspend: ${runs} runs started in ${round(startedMs, 0)} ms`)
    yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_runs WHERE status = 'waiting-approval'`.pipe(
      Effect.repeat({ until: (rows) => Number(rows[0].n) === runs, schedule: Schedule.spaced("50 millis") }),
      Effect.timeout(`${Math.max(120, Math.ceil(runs / 20))} seconds`)
    )
    const seconds = (performance.now() - start) / 1000
    return {
      runs,
      runners: 1,
      seconds: round(seconds, 3),
      startMs: round(startedMs, 1),
      suspendPerSec: round(runs / seconds, 1)
    }
  }).pipe(Effect.provide(client))
}).pipe(Effect.scoped)

// ---------------------------------------------------------------------------------------------------------
// 5. decide → result in this process

const result = Effect.gen(function*() {
  const runs = config.resultRuns
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_bench" })
  return yield* Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const approvals = yield* Approvals.Approvals
    yield* sql`CREATE TABLE bench_resume (run_id TEXT PRIMARY KEY, started_at DOUBLE PRECISION NOT NULL)`
    const runIds = yield* Effect.forEach(Array.from({ length: runs }, (_, n) => n), (n) => Resume.start({ n }), {
      concurrency: 16
    })
    yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_approvals WHERE status = 'waiting-approval'`.pipe(
      Effect.repeat({ until: (rows) => Number(rows[0].n) === runs, schedule: Schedule.spaced("50 millis") }),
      Effect.timeout("120 seconds")
    )
    const latencies: Array<number> = []
    for (const runId of runIds) {
      yield* approvals.decide({ runId, nodeId: "gate", verdict: "approve", by: "bench" })
      const decidedAt = performance.now()
      const exit = yield* Resume.result(runId).pipe(Effect.timeout("30 seconds"))
      latencies.push(performance.now() - decidedAt)
      if (Exit.isFailure(exit)) {
        return yield* Effect.dieMessage(`run ${runId} did not complete: ${Cause.pretty(exit.cause)}`)
      }
    }
    return { runs, ...latencySummary(latencies) }
  }).pipe(Effect.provide(Gatehouse.layerPg({ url, workflows: ResumeLive })))
}).pipe(Effect.scoped)

// ---------------------------------------------------------------------------------------------------------
// 6. the inbox (another script)

const inboxScript = path.join(path.dirname(fileURLToPath(import.meta.url)), "inbox.ts")

/** The last stdout line of `test/bench/inbox.ts`, parsed; null when the script is not there. */
const inbox = Effect.gen(function*() {
  if (!fs.existsSync(inboxScript)) {
    yield* Effect.logWarning("inbox: test/bench/inbox.ts is missing; inboxP99Ms is null and inboxApprovals 0")
    return null
  }
  const stdout = yield* Effect.async<string, Error>((resume) => {
    const child = spawn(process.execPath, [...tsxArgs, inboxScript], { stdio: ["ignore", "pipe", "inherit"] })
    let output = ""
    child.stdout!.on("data", (chunk) => {
      output += String(chunk)
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), config.inboxTimeoutSeconds * 1000)
    child.on("error", (error) => resume(Effect.fail(error)))
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resume(
        code === 0 ? Effect.succeed(output) : Effect.fail(new Error(`inbox.ts exited with ${code ?? signal}`))
      )
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })
  const last = stdout.trim().split("\n").at(-1) ?? ""
  const parsed = yield* Effect.try({
    try: () => JSON.parse(last) as Record<string, unknown>,
    catch: () => new Error(`inbox.ts: its last stdout line is not JSON: ${last.slice(0, 200)}`)
  })
  if (typeof parsed.inboxP99Ms !== "number" || typeof parsed.inboxApprovals !== "number") {
    return yield* Effect.fail(new Error("inbox.ts: its last line lacks numeric inboxP99Ms and inboxApprovals"))
  }
  return parsed as Record<string, unknown> & { readonly inboxP99Ms: number; readonly inboxApprovals: number }
})

// ---------------------------------------------------------------------------------------------------------

interface Failed {
  readonly error: string
}

const isFailed = (value: unknown): value is Failed => typeof value === "object" && value !== null && "error" in value

/** A part not selected is undefined; a part that failed reports its error in its field instead of figures. */
const runPart = <A, E>(part: Part, effect: Effect.Effect<A, E>): Effect.Effect<A | Failed | undefined> => {
  if (!selected.has(part)) return Effect.succeed(undefined)
  const start = performance.now()
  return Effect.logInfo(`${part}: start`).pipe(
    Effect.zipRight(effect),
    Effect.tap(() => Effect.logInfo(`${part}: done in ${round((performance.now() - start) / 1000, 1)} s`)),
    Effect.catchAllCause((cause) =>
      Effect.as(Effect.logError(`${part}: failed`, cause), { error: String(Cause.squash(cause)) })
    )
  )
}

const ok = <A extends object>(value: A | Failed | undefined): A | undefined => isFailed(value) ? undefined : value

const main = Effect.gen(function*() {
  const loadBefore = os.loadavg().map((x) => round(x))
  const rawPart = yield* runPart("raw", raw)
  const sequentialPart = yield* runPart("sequential", sequential)
  const parallelPart = yield* runPart(
    "parallel",
    Effect.gen(function*() {
      const one = yield* measureThroughput(1, config.parallelRuns)
      yield* Effect.logInfo(`parallel: 1 runner ${one.runsPerSecond} runs/s; now 2 runners`)
      const two = yield* measureThroughput(2, config.parallelRuns)
      return { runs: config.parallelRuns, stepsPerRun: 5, oneRunner: one, twoRunners: two }
    })
  )
  const suspendPart = yield* runPart("suspend", suspend)
  const resumePart = yield* runPart("resume", measureResume(config.resumeRuns))
  const resultPart = yield* runPart("result", result)
  const inboxPart = yield* runPart("inbox", inbox)

  const rawFigures = ok(rawPart)
  const commitMs = rawFigures?.commitMs
  const raw32 = rawFigures?.raw32PerSec
  const sequentialFigures = ok(sequentialPart)
  const parallelFigures = ok(parallelPart)
  const suspendFigures = ok(suspendPart)
  const resumeFigures = ok(resumePart)
  const resultFigures = ok(resultPart)
  const inboxFigures = inboxPart === null ? undefined : ok(inboxPart)

  const parts = {
    raw: rawPart,
    sequential: sequentialFigures === undefined ? sequentialPart : {
      ...sequentialFigures,
      steps: config.steps,
      warmup: config.stepsWarmup,
      rounds: config.stepsRounds,
      limit: "rawInsertsPerSec: 1-client autocommit INSERTs right after each round's steps (ratio: per-round median)"
    },
    parallel: parallelFigures === undefined ? parallelPart : {
      ...parallelFigures,
      oneRunner: {
        ...parallelFigures.oneRunner,
        stepsRatioToRaw32: ratio(parallelFigures.oneRunner.stepsPerSecond, raw32)
      },
      twoRunners: {
        ...parallelFigures.twoRunners,
        stepsRatioToRaw32: ratio(parallelFigures.twoRunners.stepsPerSecond, raw32)
      }
    },
    suspend: suspendFigures === undefined ? suspendPart : {
      ...suspendFigures,
      ratioToRaw32: ratio(suspendFigures.suspendPerSec, raw32)
    },
    resume: resumeFigures === undefined ? resumePart : {
      ...resumeFigures,
      across: "processes",
      p50OverCommit: ratio(resumeFigures.p50Ms, commitMs, 2),
      p99OverCommit: ratio(resumeFigures.p99Ms, commitMs, 2)
    },
    result: resultFigures === undefined ? resultPart : {
      ...resultFigures,
      in: "process",
      p50OverCommit: ratio(resultFigures.p50Ms, commitMs, 2),
      p99OverCommit: ratio(resultFigures.p99Ms, commitMs, 2)
    },
    inbox: inboxPart === null ? { missing: "test/bench/inbox.ts" } : inboxPart
  }

  yield* Console.log(JSON.stringify({
    bench: "all",
    dialect: "pg",
    raw1PerSec: rawFigures?.raw1PerSec ?? null,
    raw32PerSec: raw32 ?? null,
    raw32NotifyPerSec: rawFigures?.raw32NotifyPerSec ?? null,
    raw32TxPerSec: rawFigures?.raw32TxPerSec ?? null,
    raw32TxNotifyPerSec: rawFigures?.raw32TxNotifyPerSec ?? null,
    sequentialStepsPerSec: sequentialFigures?.stepsPerSec ?? null,
    sequentialRatio: sequentialFigures?.ratio ?? null,
    parallelStepsPerSec: parallelFigures?.oneRunner.stepsPerSecond ?? null,
    parallelRunsPerSec: parallelFigures?.oneRunner.runsPerSecond ?? null,
    parallelRatio: ratio(parallelFigures?.oneRunner.stepsPerSecond, raw32),
    parallelStartMs: parallelFigures?.oneRunner.startMs ?? null,
    parallel2RunsPerSec: parallelFigures?.twoRunners.runsPerSecond ?? null,
    parallel2StepsPerSec: parallelFigures?.twoRunners.stepsPerSecond ?? null,
    suspendPerSec: suspendFigures?.suspendPerSec ?? null,
    suspendRuns: suspendFigures?.runs ?? null,
    resumeP50Ms: resumeFigures?.p50Ms ?? null,
    resumeP99Ms: resumeFigures?.p99Ms ?? null,
    resultP50Ms: resultFigures?.p50Ms ?? null,
    resultP99Ms: resultFigures?.p99Ms ?? null,
    inboxP99Ms: inboxFigures?.inboxP99Ms ?? null,
    inboxApprovals: inboxFigures?.inboxApprovals ?? 0,
    failed: allParts.filter((part) => isFailed(parts[part])),
    parts,
    config: { quick, parts: allParts.filter((part) => selected.has(part)), ...config },
    cpus: os.cpus().length,
    loadAverage: { before: loadBefore, after: os.loadavg().map((x) => round(x)) },
    node: process.version,
    timestamp: new Date().toISOString()
  }))
  return allParts.some((part) => isFailed(parts[part])) ? 1 : 0
})

main.pipe(
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger))),
  Effect.runPromise
).then((code) => process.exit(code), (error) => {
  console.error(error)
  process.exit(1)
})
