import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Gatehouse, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { TestDatabase } from "@gatehouse/test-utils/Database"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext, sideEffects } from "./utils/engine.js"

/** A clock `offset` milliseconds off the real one: a runner on a machine whose clock is wrong. */
const shiftedClock = (offset: number): Clock.Clock => {
  const live = Clock.make()
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => Date.now() + offset,
    currentTimeMillis: Effect.sync(() => Date.now() + offset),
    unsafeCurrentTimeNanos: () => BigInt(Date.now() + offset) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(Date.now() + offset) * 1_000_000n),
    sleep: (duration) => live.sleep(duration)
  }
}

/** Waits, within a bound, until `check` holds. */
const waitUntil = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean, what: string) =>
  effect.pipe(
    Effect.repeat({ until: check, schedule: Schedule.spaced("50 millis") }),
    Effect.timeoutFail({ duration: "90 seconds", onTimeout: () => new Error(`${what}: not reached in 90 seconds`) })
  )

const Steps = Workflow.make({
  name: "leases-steps",
  payload: Schema.Struct({ n: Schema.Number }),
  success: Schema.Number,
  idempotencyKey: (payload) => String(payload.n)
})

// Four steps of a few hundred milliseconds each: every run outlives several renewals. Each step also
// notes which runner executed it.
const StepsLive = (worker: string) =>
  Steps.toLayer((payload, run) =>
  Effect.gen(function*() {
    for (const label of ["one", "two", "three", "four"]) {
      yield* Step.run(
        label,
        Effect.sleep("300 millis").pipe(
          Effect.zipRight(sideEffects.record(run.runId, label)),
          Effect.zipRight(sideEffects.record(run.runId, `by:${worker}`))
        )
      )
    }
    return payload.n
  })
)

const Busy = Workflow.make({
  name: "leases-busy",
  payload: Schema.Struct({ n: Schema.Number }),
  success: Schema.Number,
  idempotencyKey: (payload) => String(payload.n)
})

// Steps that hold a pooled connection in a transaction for a while and keep the CPU busy: with more runs
// than connections, every statement of the runner waits for a connection.
const BusyLive = Busy.toLayer((payload, run) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const label of ["one", "two", "three"]) {
      yield* Step.transaction(
        label,
        Effect.gen(function*() {
          yield* sql`INSERT INTO test_side_effects (run_id, label) VALUES (${run.runId}, ${label})`
          yield* sql`SELECT pg_sleep(0.8)`
          const until = Date.now() + 30
          while (Date.now() < until) {
            // busy CPU
          }
        })
      ).pipe(Effect.orDie)
    }
    return payload.n
  })
)

const figures = (db: TestDatabase) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const takeovers = yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_events
      WHERE type = 'run.taken-over'`
    const repeated = yield* sql<{ run_id: string; label: string }>`SELECT run_id, label FROM test_side_effects
      GROUP BY run_id, label HAVING COUNT(*) > 1`
    const claims = yield* sql<{ n: string }>`SELECT MAX(claims) AS n FROM gatehouse_runs`
    const workers = yield* sql<{ label: string }>`SELECT DISTINCT label FROM test_side_effects
      WHERE label LIKE 'by:%' ORDER BY label`
    return {
      takeovers: Number(takeovers[0].n),
      repeated: repeated.filter((row) => !row.label.startsWith("by:")),
      maxClaims: Number(claims[0].n),
      workers: workers.map((row) => row.label)
    }
  }).pipe(Effect.provide(db.client())))

describe.skipIf(!pgAvailable)("leases (PostgreSQL)", () => {
  it.scopedLive("a runner whose clock runs 4 s ahead does not take over the live runs of another (2 s leases)", () =>
    Effect.gen(function*() {
      const db = yield* pg
      const options = { leaseDuration: "2 seconds", pollInterval: "100 millis", concurrency: 4 } as const
      const honest = yield* buildEngine(db, StepsLive("honest"), { ...options, runnerId: "honest" })
      yield* buildEngine(db, StepsLive("ahead"), { ...options, runnerId: "ahead" }).pipe(
        Effect.withClock(shiftedClock(4000))
      )
      yield* Effect.gen(function*() {
        yield* sideEffects.setup
        const runIds = yield* Effect.forEach(Array.from({ length: 12 }, (_, n) => n), (n) => Steps.start({ n }))
        const workflows = yield* Workflows.Workflows
        const statuses = Effect.forEach(runIds, (runId) => Effect.map(workflows.poll(runId), (run) => run.status))
        yield* waitUntil(statuses, (all) => all.every((status) => status === "completed"), "all runs completed")
        for (const runId of runIds) {
          for (const label of ["one", "two", "three", "four"]) {
            assert.strictEqual(yield* sideEffects.count(runId, label), 1, `${runId} ${label}: once`)
          }
        }
        const seen = yield* figures(db)
        assert.strictEqual(seen.takeovers, 0)
        assert.deepStrictEqual(seen.repeated, [])
        assert.strictEqual(seen.maxClaims, 1)
        // Both runners executed runs, at the same time (otherwise the test proves nothing).
        assert.deepStrictEqual(seen.workers, ["by:ahead", "by:honest"])
      }).pipe(provideContext(honest))
    }), { timeout: 120_000 })

  it.scopedLive("live runners that are merely slow (pool exhausted, busy CPU, slow statements) keep their leases", () =>
    Effect.gen(function*() {
      const db = yield* pg
      // Two connections for eight runs at once, in each of two runners: every statement queues.
      const url = (yield* Effect.scoped(Effect.gen(function*() {
        const client = yield* PgClient.PgClient
        return client.config.url!
      }).pipe(Effect.provide(db.client() as Layer.Layer<PgClient.PgClient, unknown>))))
      const engine = (runnerId: string) =>
        Layer.build(
          Gatehouse.layer({
            workflows: BusyLive,
            runnerId,
            concurrency: 8,
            leaseDuration: "2 seconds",
            pollInterval: "100 millis"
          }).pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(Redacted.value(url)), maxConnections: 2 })))
        )
      const first = yield* engine("slow-1")
      yield* engine("slow-2")
      yield* Effect.gen(function*() {
        yield* sideEffects.setup
        const runIds = yield* Effect.forEach(Array.from({ length: 16 }, (_, n) => n), (n) => Busy.start({ n }))
        const workflows = yield* Workflows.Workflows
        const statuses = Effect.forEach(runIds, (runId) => Effect.map(workflows.poll(runId), (run) => run.status))
        yield* waitUntil(statuses, (all) => all.every((status) => status === "completed"), "all runs completed")
        const seen = yield* figures(db)
        assert.strictEqual(seen.takeovers, 0, "no live runner lost a lease")
        assert.deepStrictEqual(seen.repeated, [])
        for (const runId of runIds) {
          for (const label of ["one", "two", "three"]) assert.strictEqual(yield* sideEffects.count(runId, label), 1)
        }
      }).pipe(provideContext(first))
    }), { timeout: 120_000 })
})
