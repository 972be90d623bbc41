/**
 * Benchmark: webhook delivery. `BENCH_EVENTS` (default 500) runs are started (one `run.started` event
 * each) while a dispatcher (`WebhookDispatcher.layerFetch`, in process) delivers them, signed, to a real
 * HTTP receiver on 127.0.0.1 answering 200 at once. Reports deliveries per second (all deliveries over
 * the wall time from the first start to the last receipt) and the p50/p99 of an event's latency (its
 * commit to its receipt), on PostgreSQL (`DATABASE_URL`, a fresh schema, dropped at the end) and on
 * SQLite (a file in a temp directory).
 *
 * Prints one JSON line on stdout; logs go to stderr. Run with `npm run --silent bench:webhooks`.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Gatehouse, GatehouseTest, WebhookDispatcher, Webhooks, Workflow } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { databaseUrl, percentile, round } from "./shared.js"

const events = (() => {
  const value = Number(process.env.BENCH_EVENTS)
  return Number.isInteger(value) && value > 0 ? value : 500
})()

const Job = Workflow.make({
  name: "webhook-bench",
  payload: Schema.Struct({ n: Schema.Number }),
  idempotencyKey: (payload) => String(payload.n)
})

const receiver = Effect.acquireRelease(
  Effect.async<{
    readonly url: string
    readonly latencies: Array<number>
    readonly done: Promise<void>
    readonly server: http.Server
  }>((resume) => {
    const latencies: Array<number> = []
    let finish: () => void = () => {}
    const done = new Promise<void>((resolve) => (finish = resolve))
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"))
        latencies.push(Date.now() - body.data.createdAt)
        res.writeHead(200).end()
        if (latencies.length === events) finish()
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
        latencies,
        done,
        server
      })))
  }),
  (r) => Effect.sync(() => r.server.close())
)

const measure = (client: Layer.Layer<SqlClient.SqlClient, unknown>) =>
  Effect.gen(function*() {
    const target = yield* receiver
    const context = yield* Layer.build(
      // The dispatcher after the client, whose layer runs the engine's migrations.
      WebhookDispatcher.layerFetch({ pollInterval: "200 millis" }).pipe(
        Layer.provideMerge(Gatehouse.layerClient),
        Layer.provideMerge(client),
        Layer.provide(Webhooks.layerAllowedHosts(["127.0.0.1"]))
      )
    )
    return yield* Effect.gen(function*() {
      yield* (yield* Webhooks.Webhooks).create({ url: target.url, maxConcurrency: 16 })
      const started = performance.now()
      yield* Effect.forEach(Array.from({ length: events }, (_, n) => n), (n) => Job.start({ n }), { concurrency: 8 })
      yield* Effect.promise(() => target.done)
      const seconds = (performance.now() - started) / 1000
      const sorted = [...target.latencies].sort((a, b) => a - b)
      return {
        deliveriesPerSecond: round(events / seconds),
        latencyP50Ms: percentile(sorted, 0.5),
        latencyP99Ms: percentile(sorted, 0.99)
      }
    }).pipe(Effect.provide(Context.merge(context, Context.make(Webhooks.AllowedHosts, ["127.0.0.1"]))))
  }).pipe(Effect.scoped)

const main = Effect.gen(function*() {
  const pg = yield* Effect.scoped(Effect.gen(function*() {
    const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_bench" })
    return yield* measure(PgClient.layer({ url: Redacted.make(url), maxConnections: 8 }))
  }))
  const sqlite = yield* Effect.scoped(Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-bench-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    return yield* measure(Gatehouse.layerSqliteClient(path.join(dir, "bench.db")))
  }))
  yield* Console.log(JSON.stringify({ bench: "webhooks", events, pg, sqlite }))
})

main.pipe(
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))),
  Effect.runPromise
)
