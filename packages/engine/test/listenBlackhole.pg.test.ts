import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { DurableDeferred, Gatehouse, GatehouseTest, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as net from "node:net"
import { databaseUrl, pgAvailable } from "@gatehouse/test-utils/Database"
import { provideContext } from "./utils/engine.js"

/**
 * A TCP proxy to PostgreSQL that can black-hole traffic without closing any socket, the way a NAT table
 * that forgot a flow or a firewall that drops packets does: both ends keep a socket that looks open and
 * never hear from the other side again.
 */
interface Proxy {
  readonly port: number
  /** Drops, from now on, all traffic of the connections whose PostgreSQL-side local port is listed. */
  readonly blackhole: (upstreamPorts: ReadonlyArray<number>) => number
  /** Drops all traffic of every connection, and accepts new ones only to never forward anything. */
  readonly blackholeAll: () => void
}

const makeProxy = (target: { readonly host: string; readonly port: number }) =>
  Effect.acquireRelease(
    Effect.async<{ readonly proxy: Proxy; readonly close: () => void }>((resume) => {
      const sockets = new Set<net.Socket>()
      const pairs = new Set<{ upstream: net.Socket; dead: boolean }>()
      let dropAll = false
      const server = net.createServer((downstream) => {
        sockets.add(downstream)
        downstream.on("error", () => {})
        if (dropAll) return
        const upstream = net.connect(target.port, target.host)
        sockets.add(upstream)
        upstream.on("error", () => {})
        const pair = { upstream, dead: false }
        pairs.add(pair)
        downstream.on("data", (chunk) => pair.dead || dropAll || upstream.write(chunk))
        upstream.on("data", (chunk) => pair.dead || dropAll || downstream.write(chunk))
        // A close is passed on only while the flow is alive: a black hole tells nobody anything.
        downstream.on("close", () => pair.dead || dropAll || upstream.destroy())
        upstream.on("close", () => pair.dead || dropAll || downstream.destroy())
      })
      const proxy: Proxy = {
        get port() {
          return (server.address() as net.AddressInfo).port
        },
        blackhole: (ports) => {
          let n = 0
          for (const pair of pairs) {
            if (ports.includes(pair.upstream.localPort!)) {
              pair.dead = true
              n++
            }
          }
          return n
        },
        blackholeAll: () => {
          dropAll = true
        }
      }
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          proxy,
          close: () => {
            server.close()
            sockets.forEach((socket) => socket.destroy())
          }
        })))
    }),
    ({ close }) => Effect.sync(close)
  ).pipe(Effect.map(({ proxy }) => proxy))

const Go = DurableDeferred.make("go", { success: Schema.String })

const Waiter = Workflow.make({
  name: "blackhole-waiter",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const WaiterLive = Waiter.toLayer((payload) =>
  Effect.gen(function*() {
    yield* Step.run("before", Effect.void)
    const note = yield* DurableDeferred.await(Go)
    return `${payload.id}:${note}`
  })
)

/** Waits, within a bound, until `check` holds. */
const waitUntil = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean, what: string) =>
  effect.pipe(
    Effect.repeat({ until: check, schedule: Schedule.spaced("50 millis") }),
    Effect.timeoutFail({ duration: "45 seconds", onTimeout: () => new Error(`${what}: not reached in 45 seconds`) })
  )

describe.skipIf(!pgAvailable)("a LISTEN connection that dies silently (PostgreSQL)", () => {
  it.scopedLive("is replaced: a decided run resumes with polling off, and shutdown completes over a dead network", () =>
    Effect.gen(function*() {
      const created = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_test" })
      const direct = new URL(created.url)
      const proxy = yield* makeProxy({ host: direct.hostname, port: Number(direct.port || 5432) })
      const through = new URL(created.url)
      through.hostname = "127.0.0.1"
      through.port = String(proxy.port)
      const app = `gh-blackhole-${created.schema}`

      // Another process, connected directly: starts the run and completes its deferred.
      const client = yield* Layer.build(
        Gatehouse.layerClient.pipe(
          Layer.provideMerge(PgClient.layer({ url: Redacted.make(created.url), maxConnections: 2 }))
        )
      )
      // The runner, connected through the proxy, polling every hour: only a notification can wake it.
      const runnerScope = yield* Scope.make()
      yield* Layer.build(
        Gatehouse.layer({ workflows: WaiterLive, pollInterval: "1 hour", listenHeartbeat: "300 millis" }).pipe(
          Layer.provideMerge(
            PgClient.layer({ url: Redacted.make(through.toString()), maxConnections: 4, applicationName: app })
          )
        )
      ).pipe(Scope.extend(runnerScope))

      yield* Effect.gen(function*() {
        const workflows = yield* Workflows.Workflows
        const sql = Context.get(client, SqlClient.SqlClient)
        const runId = yield* Waiter.start({ id: "b-1" })
        yield* waitUntil(workflows.poll(runId), (run) => run.status === "suspended", "run suspended")

        // The runner's LISTEN connection: the one that subscribed (and pings itself) on the channel.
        const listening = sql<{ port: number }>`SELECT client_port AS port FROM pg_stat_activity
          WHERE application_name = ${app} AND (query LIKE 'LISTEN %' OR query = 'SELECT pg_notify($1, $2)')`.pipe(
          Effect.map((rows) => rows.map((row) => Number(row.port)))
        )
        yield* waitUntil(listening, (ports) => ports.length > 0, "LISTEN connection seen")
        const ports = yield* listening
        assert.isAbove(proxy.blackhole(ports), 0)

        // The decision is sent while the listener is cut off: it must still reach the run.
        assert.strictEqual(yield* DurableDeferred.succeed({ runId, deferred: Go }, "late"), "completed")
        yield* waitUntil(workflows.poll(runId), (run) => run.status === "completed", "run resumed and completed")
        assert.deepStrictEqual(yield* Waiter.result(runId), Exit.succeed("b-1:late"))
      }).pipe(provideContext(client))

      // Now the whole network goes silent, open connections and new ones alike, and the runner is shut
      // down: the shutdown must finish anyway.
      proxy.blackholeAll()
      let closed = false
      yield* Scope.close(runnerScope, Exit.void).pipe(
        Effect.disconnect,
        Effect.tap(() => Effect.sync(() => closed = true)),
        Effect.timeoutFail({
          duration: "60 seconds",
          onTimeout: () => new Error("runner shutdown did not finish in 60 seconds over a silent network")
        })
      )
      assert.isTrue(closed)
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Error)), { timeout: 120_000 })
})
