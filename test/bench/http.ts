/**
 * Benchmark: decisions over HTTP. A real `@gatehouse/server` on 127.0.0.1 (with the engine and an
 * in-process runner) holds `BENCH_DECISIONS` (default 400) runs waiting on an approval; clients POST
 * `/v1/runs/{runId}/approvals/{nodeId}/decision` with an API token, one request at a time each, with 1
 * and then 16 clients (a fresh set of runs for each). Reports decisions per second (all decisions over
 * the wall time) and the p50/p99 latency of one POST, on PostgreSQL (`DATABASE_URL`, a fresh schema,
 * dropped at the end) and on SQLite (a file in a temp directory).
 *
 * Prints one JSON line on stdout; logs go to stderr. Run with `npm run --silent bench:http`.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as SqlClient from "@effect/sql/SqlClient"
import { Approval, Gatehouse, GatehouseTest, Workflow } from "@gatehouse/engine"
import { AuthenticationLive, Server } from "@gatehouse/server"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { databaseUrl, percentile, round } from "./shared.js"

const decisions = (() => {
  const value = Number(process.env.BENCH_DECISIONS)
  return Number.isInteger(value) && value > 0 ? value : 400
})()
const token = "bench-reviewer-token-0123456789"

const Gate = Workflow.make({
  name: "http-bench",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.Boolean,
  idempotencyKey: (payload) => payload.id
})

const GateLive = Gate.toLayer(() =>
  Approval.request("gate", { title: "Go?", onDeny: "continue", reviewers: { users: ["bench"] } }).pipe(
    Effect.map((decision) => decision.approved)
  )
)

const round_ = (clients: number, baseUrl: string, label: string) =>
  Effect.gen(function*() {
    const runIds = yield* Effect.forEach(
      Array.from({ length: decisions }, (_, i) => i),
      (i) => Gate.start({ id: `${label}-${clients}-${i}` }),
      { concurrency: 8 }
    )
    const sql = yield* SqlClient.SqlClient
    yield* Effect.retry(
      sql`SELECT COUNT(*) AS n FROM gatehouse_approvals WHERE status = 'waiting-approval' AND workflow = 'http-bench'`.pipe(
        Effect.filterOrFail((rows) => Number(rows[0].n) >= decisions, () => "not yet")
      ),
      Schedule.spaced("100 millis").pipe(Schedule.upTo("120 seconds"))
    )
    const latencies: Array<number> = []
    const queue = [...runIds]
    const started = performance.now()
    yield* Effect.promise(() =>
      Promise.all(Array.from({ length: clients }, async () => {
        while (queue.length > 0) {
          const runId = queue.shift()!
          const t0 = performance.now()
          const response = await fetch(`${baseUrl}/v1/runs/${runId}/approvals/gate/decision`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({ verdict: "approve" })
          })
          const body = await response.json() as { status?: string }
          latencies.push(performance.now() - t0)
          if (response.status !== 200 || body.status !== "decided") {
            throw new Error(`decision refused: ${response.status} ${JSON.stringify(body)}`)
          }
        }
      }))
    )
    const wall = (performance.now() - started) / 1000
    latencies.sort((a, b) => a - b)
    return {
      decisionsPerSecond: round(decisions / wall, 1),
      p50Ms: round(percentile(latencies, 0.5)),
      p99Ms: round(percentile(latencies, 0.99))
    }
  })

const measure = (label: string, engine: Layer.Layer<Gatehouse.Services, unknown>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Server.layer({ port: 0 }).pipe(
        Layer.provide(AuthenticationLive.layer({
          tokens: [{ id: "bench", roles: [], sha256: AuthenticationLive.hashToken(token) }]
        })),
        Layer.provideMerge(engine)
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address as HttpServer.TcpAddress
    const baseUrl = `http://127.0.0.1:${address.port}`
    const one = yield* round_(1, baseUrl, label).pipe(Effect.provide(context))
    const sixteen = yield* round_(16, baseUrl, label).pipe(Effect.provide(context))
    return { clients1: one, clients16: sixteen }
  }).pipe(Effect.scoped)

const program = Effect.gen(function*() {
  const pg = yield* Effect.gen(function*() {
    const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_bench_http" })
    return yield* measure("pg", Gatehouse.layerPg({ url, workflows: GateLive, maxConnections: 16 }))
  }).pipe(Effect.scoped)
  const sqlite = yield* Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-bench-http-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    return yield* measure("sqlite", Gatehouse.layerSqlite({ filename: path.join(dir, "gatehouse.db"), workflows: GateLive }))
  }).pipe(Effect.scoped)
  yield* Console.log(JSON.stringify({ bench: "http-decisions", decisions, pg, sqlite }))
})

program.pipe(
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))),
  Effect.runPromise
).catch((error) => {
  console.error(error)
  process.exit(1)
})
