import { assert, describe, it } from "@effect/vitest"
import { Runner, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext, sideEffects } from "./utils/engine.js"

const Transfer = Workflow.make({
  name: "takeover-transfer",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

// The first attempt of "b" hangs: its runner stalls there (or dies: to the database they look the same,
// a lease that is no longer renewed). Later attempts, in the runner that takes over, go through.
let bAttempts = 0

const TransferLive = Transfer.toLayer((payload, run) =>
  Effect.gen(function*() {
    const a = yield* Step.run("a", Effect.as(sideEffects.record(run.runId, "a"), 40), { success: Schema.Number })
    const b = yield* Step.run(
      "b",
      Effect.suspend(() => ++bAttempts === 1 ? Effect.never : Effect.as(sideEffects.record(run.runId, "b"), 2)),
      { success: Schema.Number }
    )
    return `${payload.id}:${a + b}`
  })
)

const takeovers = Runner.metrics.takeovers

/** A runner that stalled: it never renews its leases. */
const stalled = Effect.provideService(Runner.RenewalsStalled, true)

/**
 * The run's lease as PostgreSQL sees it, with the database's clock read in the same statement: on
 * PostgreSQL leases are measured on that clock, so `TestClock` cannot move them and the PostgreSQL
 * variants below wait (bounded) for real leases of a second or two to run out.
 */
const leaseNow = (runId: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ owner: string | null; expires: string | null; now: string }>`SELECT
      lease_owner AS owner, lease_expires_at AS expires,
      (extract(epoch from clock_timestamp()) * 1000)::bigint AS now
      FROM gatehouse_runs WHERE id = ${runId}`.pipe(Effect.orDie)
    return { owner: rows[0].owner, expires: Number(rows[0].expires), now: Number(rows[0].now) }
  })

/** Waits, within a bound and on the live clock, until `check` holds. */
const waitLive = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean) =>
  effect.pipe(
    Effect.repeat({ until: check, schedule: Schedule.spaced("20 millis") }),
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("condition not reached in 30 seconds") }),
    Effect.withClock(Clock.make())
  )

/**
 * `leaseClock: "database"` (PostgreSQL): lease times come from the database's clock, so expiry is real
 * time; `"effect"` (SQLite): they come from Effect's `Clock`, and `TestClock` drives them.
 */
export const suite = (name: string, makeDatabase: MakeDatabase, leaseClock: "effect" | "database" = "effect") =>
  describe(name, () => {
    if (leaseClock === "database") {
      it.scopedLive("a run whose runner stopped renewing is taken over once the database's clock passes the lease", () =>
        Effect.gen(function*() {
          const db = yield* makeDatabase
          bAttempts = 0
          const before = (yield* Metric.value(takeovers)).count
          const a = yield* buildEngine(db, TransferLive, {
            runnerId: "runner-a",
            leaseDuration: "2 seconds"
          }).pipe(stalled)
          const { expires, runId } = yield* Effect.gen(function*() {
            yield* sideEffects.setup
            const runId = yield* Transfer.start({ id: "t-1" })
            const workflows = yield* Workflows.Workflows
            yield* waitLive(
              Effect.map(workflows.inspect(runId), (seen) => seen.nodes.some((node) => node.nodeId === "a")),
              (ready) => ready && bAttempts === 1
            )
            const held = yield* leaseNow(runId)
            assert.strictEqual(held.owner, "runner-a")
            return { expires: held.expires, runId }
          }).pipe(provideContext(a))

          const b = yield* buildEngine(db, TransferLive, {
            runnerId: "runner-b",
            leaseDuration: "2 seconds",
            pollInterval: "50 millis"
          })
          yield* Effect.gen(function*() {
            const workflows = yield* Workflows.Workflows
            // Not before the lease has run out on the database's clock: while it has not, A holds the run.
            yield* waitLive(
              Effect.tap(leaseNow(runId), (lease) => {
                if (lease.now < expires) assert.strictEqual(lease.owner, "runner-a")
              }),
              (lease) => lease.owner !== "runner-a"
            )
            assert.deepStrictEqual(yield* Transfer.result(runId), Exit.succeed("t-1:42"))
            assert.strictEqual(yield* sideEffects.count(runId, "a"), 1)
            assert.strictEqual(yield* sideEffects.count(runId, "b"), 1)
            assert.strictEqual(bAttempts, 2)
            const inspection = yield* workflows.inspect(runId)
            assert.strictEqual(inspection.run.claims, 2)
            assert.strictEqual(inspection.run.takenOverFrom, "runner-a")
            const takenOver = inspection.events.filter((event) => event.type === "run.taken-over")
            assert.strictEqual(takenOver.length, 1)
            assert.deepStrictEqual(takenOver[0].data, { from: "runner-a", by: "runner-b", claims: 2 })
            assert.strictEqual((yield* Metric.value(takeovers)).count - before, 1)
          }).pipe(provideContext(b))
        }), { timeout: 60_000 })

      it.scopedLive("a runner never takes over a run it is executing, even when its renewal is late", () =>
        Effect.gen(function*() {
          const db = yield* makeDatabase
          bAttempts = 0
          const before = (yield* Metric.value(takeovers)).count
          // Polling every 50ms while the lease runs out: the runner looks for work many times past it.
          const a = yield* buildEngine(db, TransferLive, {
            leaseDuration: "1 second",
            pollInterval: "50 millis"
          }).pipe(stalled)
          yield* Effect.gen(function*() {
            yield* sideEffects.setup
            const runId = yield* Transfer.start({ id: "t-2" })
            yield* waitLive(Effect.sync(() => bAttempts), (n) => n === 1)
            const expires = (yield* leaseNow(runId)).expires
            yield* waitLive(leaseNow(runId), (lease) => lease.now > expires + 500)
            const runner = yield* Runner.Runner
            yield* runner.poke
            assert.deepStrictEqual(yield* runner.active, [runId])
            assert.strictEqual(bAttempts, 1)
            assert.strictEqual((yield* (yield* Workflows.Workflows).poll(runId)).claims, 1)
            assert.strictEqual((yield* Metric.value(takeovers)).count - before, 0)
          }).pipe(provideContext(a))
        }), { timeout: 60_000 })
      return
    }

    it.scoped("a run whose runner stopped renewing is taken over after the lease; completed steps do not run again", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        bAttempts = 0
        const before = (yield* Metric.value(takeovers)).count
        // Runner A renews only every hour: past its 30-second lease it is as good as dead.
        const a = yield* buildEngine(db, TransferLive, {
          runnerId: "runner-a",
          leaseDuration: "30 seconds"
        }).pipe(stalled)
        const runId = yield* Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Transfer.start({ id: "t-1" })
          const workflows = yield* Workflows.Workflows
          // Wait until A is inside "b": "a" checkpointed, "b" attempted once.
          yield* Effect.gen(function*() {
            const inspection = yield* workflows.inspect(runId)
            return inspection.nodes.some((node) => node.nodeId === "a") && bAttempts === 1
          }).pipe(Effect.repeat({ until: (ready) => ready, schedule: Schedule.spaced("10 millis") }), Effect.withClock(Clock.make()))
          const held = yield* workflows.poll(runId)
          assert.strictEqual(held.status, "running")
          assert.strictEqual(held.leaseOwner, "runner-a")
          assert.deepStrictEqual(yield* (yield* Runner.Runner).active, [runId])
          return runId
        }).pipe(provideContext(a))

        const b = yield* buildEngine(db, TransferLive, { runnerId: "runner-b", leaseDuration: "30 seconds" })
        yield* Effect.gen(function*() {
          const workflows = yield* Workflows.Workflows
          // Not before the lease has run out.
          yield* TestClock.adjust("29 seconds")
          assert.strictEqual((yield* workflows.poll(runId)).leaseOwner, "runner-a")
          yield* TestClock.adjust("2 seconds")
          assert.deepStrictEqual(yield* Transfer.result(runId), Exit.succeed("t-1:42"))
          assert.strictEqual(yield* sideEffects.count(runId, "a"), 1)
          assert.strictEqual(yield* sideEffects.count(runId, "b"), 1)
          assert.strictEqual(bAttempts, 2)
          const inspection = yield* workflows.inspect(runId)
          assert.strictEqual(inspection.run.claims, 2)
          assert.strictEqual(inspection.run.takenOverFrom, "runner-a")
          const takenOver = inspection.events.filter((event) => event.type === "run.taken-over")
          assert.strictEqual(takenOver.length, 1)
          assert.strictEqual(takenOver[0].actor, "runner-b")
          assert.deepStrictEqual(takenOver[0].data, { from: "runner-a", by: "runner-b", claims: 2 })
          assert.strictEqual((yield* Metric.value(takeovers)).count - before, 1)
        }).pipe(provideContext(b))
      }))

    it.scoped("a runner never takes over a run it is executing, even when its renewal is late", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        bAttempts = 0
        const before = (yield* Metric.value(takeovers)).count
        const a = yield* buildEngine(db, TransferLive, { leaseDuration: "30 seconds" }).pipe(stalled)
        yield* Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Transfer.start({ id: "t-2" })
          yield* Effect.sync(() => bAttempts).pipe(
            Effect.repeat({ until: (n) => n === 1, schedule: Schedule.spaced("10 millis") }),
            Effect.withClock(Clock.make())
          )
          yield* TestClock.adjust("2 minutes")
          const runner = yield* Runner.Runner
          yield* runner.poke
          assert.deepStrictEqual(yield* runner.active, [runId])
          assert.strictEqual(bAttempts, 1)
          assert.strictEqual((yield* (yield* Workflows.Workflows).poll(runId)).claims, 1)
          assert.strictEqual((yield* Metric.value(takeovers)).count - before, 0)
        }).pipe(provideContext(a))
      }))
  })
