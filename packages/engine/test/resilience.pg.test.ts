import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { DurableDeferred, Gatehouse, GatehouseTest, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { databaseUrl, pgAvailable } from "@gatehouse/test-utils/Database"
import { provideContext } from "./utils/engine.js"

const Go = DurableDeferred.make("go", { success: Schema.Number })

const Ledgered = Workflow.make({
  name: "resilience-ledgered",
  payload: Schema.Struct({ n: Schema.Number }),
  success: Schema.Number,
  idempotencyKey: (payload) => String(payload.n)
})

// A statement of the step's own that fails on a dropped connection is retried by the step.
const retry = { retry: Schedule.spaced("100 millis").pipe(Schedule.compose(Schedule.recurs(50))) }

const LedgeredLive = Ledgered.toLayer((payload, run) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* Step.transaction(
      "debit",
      // Held open a moment, so that terminated connections cut transactions in flight.
      sql`INSERT INTO resilience_ledger (run_id, entry) VALUES (${run.runId}, 'debit')`.pipe(
        Effect.zipRight(Effect.sleep("40 millis"))
      ),
      retry
    ).pipe(Effect.orDie)
    yield* Step.run(
      "notify-bank",
      Effect.gen(function*() {
        const key = yield* Step.idempotencyKey
        yield* sql`INSERT INTO resilience_keys (key, run_id) VALUES (${key}, ${run.runId}) ON CONFLICT (key) DO NOTHING`
      }),
      retry
    ).pipe(Effect.orDie)
    const bonus = yield* DurableDeferred.await(Go)
    yield* Step.transaction(
      "credit",
      sql`INSERT INTO resilience_ledger (run_id, entry) VALUES (${run.runId}, 'credit')`.pipe(Effect.asVoid),
      retry
    ).pipe(Effect.orDie)
    return payload.n + bonus
  })
)

/** Waits, within a bound, until `check` holds. */
const waitUntil = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean, what: string) =>
  effect.pipe(
    Effect.repeat({ until: check, schedule: Schedule.spaced("50 millis") }),
    Effect.timeoutFail({ duration: "45 seconds", onTimeout: () => new Error(`${what}: not reached in 45 seconds`) })
  )

describe.skipIf(!pgAvailable)("connection loss (PostgreSQL)", () => {
  it.scopedLive("runners reconnect after their backends are terminated; no run lost or doubled", () =>
    Effect.gen(function*() {
      const created = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_test" })
      // The runner's connections carry their own application name, so only they are terminated.
      const runnerApp = `gh-resilience-${created.schema}`
      const url = Redacted.make(created.url)
      const client = yield* Layer.build(
        Gatehouse.layerClient.pipe(Layer.provideMerge(PgClient.layer({ url, maxConnections: 2 })))
      )
      yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE resilience_ledger (run_id TEXT NOT NULL, entry TEXT NOT NULL)`
        yield* sql`CREATE TABLE resilience_keys (key TEXT PRIMARY KEY, run_id TEXT NOT NULL)`
      }).pipe(provideContext(client))
      // Polling every hour: after a connection loss only the re-subscribed LISTEN (or the runner's own
      // retry of a failed claim) can bring the runner back to its work.
      yield* Layer.build(
        Gatehouse.layer({
          workflows: LedgeredLive,
          pollInterval: "1 hour",
          leaseDuration: "3 seconds",
          listenHeartbeat: "300 millis"
        }).pipe(Layer.provideMerge(PgClient.layer({ url, maxConnections: 4, applicationName: runnerApp })))
      )

      let terminated = 0
      const admin = Context.get(client, SqlClient.SqlClient)
      const terminate = admin<{ pid: number }>`SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
        WHERE application_name = ${runnerApp} AND pid <> pg_backend_pid()`.pipe(
        Effect.tap((rows) => Effect.sync(() => terminated += rows.length))
      )

      const runs = 30
      const runIds = yield* Effect.forEach(
        Array.from({ length: runs }, (_, n) => n),
        (n) => Ledgered.start({ n }),
        { concurrency: 4 }
      ).pipe(provideContext(client))
      // Fault injection while the runs execute: terminate every connection of the runner's process, four
      // times, 60ms apart.
      yield* terminate.pipe(Effect.delay("60 millis"), Effect.repeat({ times: 3 }))

      yield* Effect.gen(function*() {
        const workflows = yield* Workflows.Workflows
        const statuses = Effect.forEach(runIds, (runId) => Effect.map(workflows.poll(runId), (run) => run.status))
        yield* waitUntil(statuses, (all) => all.every((status) => status === "suspended"), "all runs suspended")
        // Once more, so that the LISTEN connection is certainly gone when the completions are sent.
        yield* terminate
        yield* Effect.forEach(runIds, (runId, n) => DurableDeferred.succeed({ runId, deferred: Go }, n * 1000))
        yield* waitUntil(statuses, (all) => all.every((status) => status === "completed"), "all runs completed")
        const results = yield* Effect.forEach(runIds, (runId) => Effect.map(workflows.poll(runId), (run) => run.result))
        assert.deepStrictEqual(
          results,
          runIds.map((_, n) => ({ _tag: "Success", value: n + n * 1000 }))
        )

        const sql = yield* SqlClient.SqlClient
        const ledger = yield* sql<{ run_id: string; entry: string; n: string }>`SELECT run_id, entry, COUNT(*) AS n
          FROM resilience_ledger GROUP BY run_id, entry`
        assert.strictEqual(ledger.length, runs * 2)
        assert.isTrue(ledger.every((row) => Number(row.n) === 1), "each ledger entry exactly once")
        const keys = yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM resilience_keys`
        assert.strictEqual(Number(keys[0].n), runs)
        const claims = yield* sql<{ n: string }>`SELECT SUM(claims) AS n FROM gatehouse_runs`
        // Two claims per run without faults (start, resume): more means the faults cut executions short and
        // the runs were replayed, which is what this test is about.
        assert.isAbove(Number(claims[0].n), runs * 2)
      }).pipe(provideContext(client))
      assert.isAbove(terminated, 0)
    }).pipe(
      // The runner warns about every statement the terminations cut: expected here, and noisy.
      Logger.withMinimumLogLevel(LogLevel.Error)
    ), { timeout: 90_000 })
})
