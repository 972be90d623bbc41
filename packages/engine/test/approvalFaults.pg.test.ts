import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Approval, Approvals, Audit, Gatehouse, GatehouseTest, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { databaseUrl, pgAvailable, type TestDatabase } from "@gatehouse/test-utils/Database"
import { provideContext, sideEffects, withEngine } from "./utils/engine.js"
import { snapshot } from "./utils/snapshot.js"

// An approval guarding a step: whatever the race between a cancel and a decision, an acknowledged cancel
// means the step never runs.
const Guarded = Workflow.make({
  name: "guarded",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const GuardedLive = Guarded.toLayer((_, run) =>
  Effect.gen(function*() {
    yield* Approval.request("go", { title: "Go?", onDeny: "continue" })
    yield* Step.run("protected", sideEffects.record(run.runId, "protected"))
    return "done"
  })
)

const database = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_test" })
  const db: TestDatabase = {
    dialect: "pg",
    client: () => PgClient.layer({ url: Redacted.make(url), maxConnections: 4 }) as Layer.Layer<SqlClient.SqlClient>
  }
  return { db, url }
})

/** The client services only (no runner), on a pool of its own: another process. */
const clientProcess = (url: string, maxConnections: number) =>
  Layer.build(
    Gatehouse.layerClient.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections })))
  )

/** Waits, within a bound, until `check` holds. */
const waitUntil = <A, E, R>(effect: Effect.Effect<A, E, R>, check: (a: A) => boolean, what: string) =>
  effect.pipe(
    Effect.repeat({ until: check, schedule: Schedule.spaced("20 millis") }),
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`${what}: not reached in 30 seconds`) })
  )

const startWaiting = (db: TestDatabase, ids: ReadonlyArray<string>) =>
  withEngine(
    db,
    GuardedLive,
    Effect.gen(function*() {
      yield* sideEffects.setup
      const runIds = yield* Effect.forEach(ids, (id) => Guarded.start({ id }), { concurrency: 8 })
      yield* GatehouseTest.settle
      return runIds
    }),
    { pollInterval: Duration.infinity }
  )

describe.skipIf(!pgAvailable)("approval faults (PostgreSQL)", () => {
  it.scoped("cancel racing decide on the same runs: no deadlock, no storage error, acknowledged cancels hold", () =>
    Effect.gen(function*() {
      const { db, url } = yield* database
      const runIds = yield* startWaiting(db, Array.from({ length: 60 }, (_, i) => `race-${i}`))
      // Two client processes and no runner: an operator cancels while a reviewer decides, on every run at once.
      const operator = yield* clientProcess(url, 6)
      const reviewer = yield* clientProcess(url, 6)
      const outcomes = yield* Effect.forEach(runIds, (runId, i) => {
        const cancel = Effect.flatMap(Workflows.Workflows, (workflows) => workflows.cancel(runId, { by: "ops" })).pipe(
          Effect.map((result) => result.status),
          provideContext(operator),
          Effect.exit
        )
        const decide = Effect.flatMap(Approvals.Approvals, (approvals) =>
          approvals.decide({ runId, nodeId: "go", verdict: i % 2 === 0 ? "approve" : "deny", by: "rev" })).pipe(
            Effect.map((result) => result.status),
            provideContext(reviewer),
            Effect.exit
          )
        return Effect.all(i % 3 === 0 ? [cancel, decide] : [decide, cancel], { concurrency: 2 }).pipe(
          Effect.map((pair) =>
            i % 3 === 0 ? { cancel: pair[0], decide: pair[1] } : { cancel: pair[1], decide: pair[0] }
          )
        )
      }, { concurrency: "unbounded" })
      type Outcome = { readonly cancel: Exit.Exit<unknown, any>; readonly decide: Exit.Exit<unknown, any> }
      for (const [i, outcome] of outcomes.entries() as Iterable<[number, Outcome]>) {
        // No runner ran: every cancel finds the run unfinished and is acknowledged.
        assert.deepStrictEqual(outcome.cancel, Exit.succeed("canceled"), `cancel of run ${i}`)
        if (Exit.isFailure(outcome.decide)) {
          const error = Cause.failureOption(outcome.decide.cause)
          assert.isTrue(
            Cause.dieOption(outcome.decide.cause)._tag === "None" && error._tag === "Some" &&
              error.value._tag === "DecisionConflict",
            `decide of run ${i}: ${Cause.pretty(outcome.decide.cause)}`
          )
        } else {
          assert.strictEqual(outcome.decide.value, "decided")
        }
      }
      // A runner now: the canceled runs stay canceled, and nothing after their approvals runs.
      yield* withEngine(
        db,
        GuardedLive,
        Effect.gen(function*() {
          yield* GatehouseTest.settle
          const workflows = yield* Workflows.Workflows
          for (const runId of runIds) {
            assert.strictEqual((yield* workflows.poll(runId)).status, "canceled")
            assert.strictEqual(yield* sideEffects.count(runId, "protected"), 0)
          }
          assert.isTrue((yield* Audit.verify).valid)
        }),
        { pollInterval: Duration.infinity }
      )
    }), { timeout: 120_000 })

  it.scopedLive("a connection lost mid-transaction: decide, cancel, start fail with StorageError, change nothing", () =>
    Effect.gen(function*() {
      const { db, url } = yield* database
      const [runId, other] = yield* startWaiting(db, ["lost-1", "lost-2"])
      const admin = Context.get(yield* clientProcess(url, 2), SqlClient.SqlClient)
      // The client under test has one connection: its backend is the one terminated.
      const victim = yield* clientProcess(url, 1)
      const backend = Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`)
        .pipe(provideContext(victim), Effect.map((rows) => rows[0].pid))

      /**
       * Runs `call` on the victim's connection while another transaction holds `table` locked, waits until
       * the call is blocked inside its own transaction, terminates its backend and returns how it ended.
       */
      const cutMidTransaction = <A, E>(table: string, call: Effect.Effect<A, E, any>) =>
        Effect.gen(function*() {
          const pid = yield* backend
          const locked = yield* Deferred.make<void>()
          const release = yield* Deferred.make<void>()
          const holder = yield* admin.withTransaction(Effect.gen(function*() {
            yield* admin.unsafe(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`)
            yield* Deferred.succeed(locked, undefined)
            yield* Deferred.await(release)
          })).pipe(Effect.fork)
          yield* Deferred.await(locked)
          const fiber = yield* call.pipe(provideContext(victim), Effect.exit, Effect.fork)
          yield* waitUntil(
            admin<{ wait: string | null }>`SELECT wait_event_type AS wait FROM pg_stat_activity WHERE pid = ${pid}`,
            (rows) => rows[0]?.wait === "Lock",
            `backend ${pid} blocked on ${table}`
          )
          yield* admin`SELECT pg_terminate_backend(${pid})`
          const exit = yield* Fiber.join(fiber)
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(holder)
          return exit as Exit.Exit<A, E>
        })

      const assertStorageError = (exit: Exit.Exit<unknown, unknown>, operation: string) => {
        assert.isTrue(Exit.isFailure(exit), `${operation} failed`)
        if (Exit.isSuccess(exit)) return
        const defect = Cause.dieOption(exit.cause)
        assert.isTrue(defect._tag === "None", `${operation}: no defect: ${Cause.pretty(exit.cause)}`)
        const error = Cause.failureOption(exit.cause)
        assert.isTrue(error._tag === "Some" && (error.value as any)._tag === "StorageError", Cause.pretty(exit.cause))
        assert.strictEqual(error._tag === "Some" && (error.value as any).operation, operation)
      }

      const before = yield* snapshot.pipe(Effect.provideService(SqlClient.SqlClient, admin))
      // A decide that has written its decision and waits to append its audit entry.
      const decide = Effect.flatMap(
        Approvals.Approvals,
        (approvals) => approvals.decide({ runId, nodeId: "go", verdict: "approve", by: "rev" })
      )
      assertStorageError(yield* cutMidTransaction("gatehouse_audit", decide), "Approvals.decide")
      // A cancel that has ended the run and waits for the audit chain.
      const cancel = Effect.flatMap(Workflows.Workflows, (workflows) => workflows.cancel(other, { by: "ops" }))
      assertStorageError(yield* cutMidTransaction("gatehouse_audit", cancel), "Workflows.cancel")
      // A start that has inserted its run and waits to append its event.
      const start = Guarded.start({ id: "lost-3" })
      assertStorageError(yield* cutMidTransaction("gatehouse_events", start), "Workflows.start")
      assert.deepStrictEqual(yield* snapshot.pipe(Effect.provideService(SqlClient.SqlClient, admin)), before)

      // The pool reconnects: the same calls then go through.
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* (yield* Approvals.Approvals).decide({
          runId,
          nodeId: "go",
          verdict: "approve",
          by: "rev"
        })).status, "decided")
        assert.strictEqual((yield* (yield* Workflows.Workflows).cancel(other, { by: "ops" })).status, "canceled")
        yield* Guarded.start({ id: "lost-3" })
      }).pipe(provideContext(victim))
    }).pipe(Logger.withMinimumLogLevel(LogLevel.Error)), { timeout: 60_000 })
})
