/**
 * What the cross-process benchmarks share: a fresh schema on `DATABASE_URL`, a client on it, and runner
 * processes (`test/bench/worker.ts`) that are killed when the benchmark's scope closes.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { Gatehouse, GatehouseTest, Migrations } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { tsxArgs } from "../tsx.js"

export const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

export const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]

export const round = (x: number, digits = 2) => Number(x.toFixed(digits))

/** p50, p90, p99, max and mean of latencies in milliseconds. */
export const latencySummary = (latencies: ReadonlyArray<number>) => {
  const sorted = [...latencies].sort((a, b) => a - b)
  return {
    p50Ms: round(percentile(sorted, 0.5)),
    p90Ms: round(percentile(sorted, 0.9)),
    p99Ms: round(percentile(sorted, 0.99)),
    maxMs: round(sorted[sorted.length - 1]),
    meanMs: round(latencies.reduce((a, b) => a + b, 0) / latencies.length)
  }
}

/** A schema of its own, dropped at the end, and a client (Workflows, Approvals) on it. */
export const makeDatabase = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_bench" })
  const client = yield* Layer.build(
    Gatehouse.layerClient.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 8 })))
  )
  yield* Migrations.migrate.pipe(Effect.provide(client))
  return { url, client }
})

/** Starts `count` runner processes and waits until each says it is up. */
export const spawnRunners = (url: string, count: number): Effect.Effect<ReadonlyArray<ChildProcess>, never, Scope.Scope> =>
  Effect.forEach(Array.from({ length: count }), () =>
    Effect.acquireRelease(
      Effect.async<ChildProcess>((resume) => {
        const child = spawn(process.execPath, [...tsxArgs, path.join(path.dirname(fileURLToPath(import.meta.url)), "worker.ts")], {
          env: { ...process.env, GATEHOUSE_URL: url },
          stdio: ["ignore", "pipe", "inherit"]
        })
        child.stdout!.on("data", (chunk) => {
          if (String(chunk).includes("ready")) resume(Effect.succeed(child))
        })
      }),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    ), { concurrency: "unbounded" })

/** Whether the module at `url` (its `import.meta.url`) is the script node was started with, not an import. */
export const isMain = (url: string): boolean =>
  process.argv[1] !== undefined && fileURLToPath(url) === path.resolve(process.argv[1])
