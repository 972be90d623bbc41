/**
 * A test kit for users' own workflow tests: SQLite in memory, the engine's migrations, and an in-process
 * runner driven by in-process signals and `TestClock` (no polling), so a test of a seven-day wait is an
 * `it.effect` with `TestClock.adjust("7 days")` that runs in milliseconds.
 *
 * @since 0.1.0
 */
import type { MigrationError } from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { randomUUID } from "node:crypto"
import * as ActionLinks from "./ActionLinks.js"
import * as Webhooks from "./Webhooks.js"
import * as Approvals from "./Approvals.js"
import * as Audit from "./Audit.js"
import * as Policies from "./Policies.js"
import * as Events from "./Events.js"
import * as Gatehouse from "./Gatehouse.js"
import * as Health from "./Health.js"
import * as PgSchemas from "./internal/storage/pgSchemas.js"
import * as Storage from "./internal/storage.js"
import * as Migrations from "./Migrations.js"
import * as Runner from "./Runner.js"
import { WorkflowRegistry } from "./WorkflowRegistry.js"
import * as WorkflowRegistryModule from "./WorkflowRegistry.js"
import * as Workflows from "./Workflows.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface RestartOptions {
  /**
   * `true` (the default): the restart also marks the crashed runner dead, as an operator or an
   * orchestrator that saw the process go would, so the fresh runner takes its runs over at once (recorded as
   * a takeover). `false`: its leases stay until they expire, as after a real crash; drive the clock past
   * the lease (`TestClock.adjust(leaseDuration)`, 30 seconds by default) before `settle`, which then
   * finds the fresh runner taking them over.
   */
  readonly expireLeases?: boolean | undefined
}

/**
 * The test kit's control over its runner.
 *
 * @since 0.1.0
 * @category tags
 */
export class TestRunner extends Context.Tag("@gatehouse/engine/GatehouseTest/TestRunner")<TestRunner, {
  /** Crashes the runner and starts a fresh one on the same database (see `restart`). */
  readonly restart: (options?: RestartOptions) => Effect.Effect<void, SqlError>
}>() {}

/**
 * What `layer` provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Services = Gatehouse.Services | TestRunner

/**
 * A client on the same connection as `base` whose statements, once `severed()` holds, touch nothing: they
 * return no rows, a `COMMIT` becomes a `ROLLBACK` and a `ROLLBACK` still runs (so a transaction the
 * crash cut never commits and never stays open). The runner of the test kit writes through one: severing it
 * is a crash, after which neither the runner's finalizers nor its interrupted runs write anything.
 */
const makeSeverableClient = (base: SqlClient.SqlClient, severed: () => boolean) => {
  const guard = <A>(sql: string, empty: A, run: () => Effect.Effect<A, SqlError>, conn: SqlConnection.Connection) =>
    Effect.suspend((): Effect.Effect<A, SqlError> => {
      if (!severed()) return run()
      if (/^\s*ROLLBACK/i.test(sql)) return run()
      if (/^\s*COMMIT/i.test(sql)) return Effect.as(conn.executeUnprepared("ROLLBACK", [], undefined), empty)
      return Effect.succeed(empty)
    })
  const wrap = (conn: SqlConnection.Connection): SqlConnection.Connection => ({
    execute: (sql, params, transformRows) => guard(sql, [], () => conn.execute(sql, params, transformRows), conn),
    executeRaw: (sql, params) => guard<unknown>(sql, [], () => conn.executeRaw(sql, params), conn),
    executeValues: (sql, params) => guard(sql, [], () => conn.executeValues(sql, params), conn),
    executeUnprepared: (sql, params, transformRows) =>
      guard(sql, [], () => conn.executeUnprepared(sql, params, transformRows), conn),
    executeStream: (sql, params, transformRows) =>
      Stream.suspend(() => severed() ? Stream.empty : conn.executeStream(sql, params, transformRows))
  })
  const acquirer = Effect.map(base.reserve, wrap)
  return SqlClient.make({
    acquirer,
    transactionAcquirer: acquirer,
    compiler: Statement.makeCompilerSqlite(),
    spanAttributes: [["db.system.name", "sqlite"]]
  }).pipe(Effect.provide(Reactivity.layer))
}

/**
 * The runner of the test kit, restartable: `TestRunner.restart` crashes it and starts a fresh one on the
 * same database and the same in-process signals; the `Runner` service follows the current one.
 */
const layerRestartableRunner = (
  options: Runner.RunnerOptions
): Layer.Layer<Runner.Runner | TestRunner, never, SqlClient.SqlClient | WorkflowRegistry | Storage.Storage> =>
  Layer.scopedContext(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const services = Context.make(WorkflowRegistry, yield* WorkflowRegistry)
    const { signals } = yield* Storage.Storage
    const scope = yield* Effect.scope
    let generation = 0
    const start = Effect.gen(function*() {
      let severed = false
      const client = yield* makeSeverableClient(sql, () => severed)
      const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      const runner = yield* Runner.make({
        ...options,
        ...(options.runnerId !== undefined && generation > 0 ? { runnerId: `${options.runnerId}-${generation}` } : {})
      }).pipe(
        // The test kit's options are the test's own: a lease the runner refuses is a bug in the test.
        Effect.orDie,
        Effect.provide(services.pipe(
          Context.add(SqlClient.SqlClient, client),
          Context.add(Storage.Storage, Storage.makeWith(client, signals))
        )),
        Scope.extend(child)
      )
      generation++
      return { runner, child, sever: () => severed = true }
    })
    let current = yield* start
    const restart = (restartOptions: RestartOptions = {}) =>
      Effect.gen(function*() {
        const crashed = current
        crashed.sever()
        yield* Scope.close(crashed.child, Exit.void)
        if (restartOptions.expireLeases !== false) {
          const now = yield* Clock.currentTimeMillis
          yield* Storage.makeWith(sql, signals).leases.expireLeases(crashed.runner.runnerId, now)
        }
        current = yield* start
      })
    const runner: Runner.Runner["Type"] = {
      get runnerId() {
        return current.runner.runnerId
      },
      active: Effect.suspend(() => current.runner.active),
      idle: Effect.suspend(() => current.runner.idle),
      poke: Effect.suspend(() => current.runner.poke),
      changes: Effect.suspend(() => current.runner.changes)
    }
    return Context.make(Runner.Runner, runner).pipe(Context.add(TestRunner, TestRunner.of({ restart })))
  }))

/**
 * The engine on an in-memory SQLite database with the given workflow implementations registered, and a
 * runner that `restart` can crash and start again.
 *
 * @example
 * ```ts
 * import { GatehouseTest } from "@gatehouse/engine"
 * import { it } from "@effect/vitest"
 * import { Effect, TestClock } from "effect"
 *
 * it.effect("waits a week for the decision", () =>
 *   Effect.gen(function*() {
 *     const runId = yield* RefundReview.start({ ticketId: "T-1", amount: 20 })
 *     yield* GatehouseTest.settle
 *     yield* TestClock.adjust("7 days")
 *     yield* GatehouseTest.settle
 *   }).pipe(Effect.provide(GatehouseTest.layer(RefundReviewLive))))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E = never, R = never>(
  workflows?: Layer.Layer<never, E, R>,
  options: Gatehouse.Options<never, never> & { readonly filename?: string | undefined } = {}
): Layer.Layer<Services, E | MigrationError | SqlError | Gatehouse.DatabaseOpenError, Exclude<R, Services>> => {
  const client = Layer.mergeAll(
    Workflows.layer,
    ActionLinks.layer.pipe(Layer.provideMerge(Approvals.layer)),
    Policies.layer,
    Events.layer,
    Audit.layer,
    Health.layer,
    Webhooks.layer,
    WorkflowRegistryModule.layer,
    // The same in-process signals as the client's (layers are shared within one build): a start wakes the
    // runner, whichever generation it is.
    Storage.layer
  ).pipe(
    Layer.provide(Migrations.layer),
    Layer.provideMerge(Gatehouse.layerSqlClientSqlite(options.filename ?? ":memory:"))
  )
  const { filename: _, workflows: __, ...runnerOptions } = options
  const engine = layerRestartableRunner({ pollInterval: Duration.infinity, ...runnerOptions }).pipe(
    Layer.provideMerge(client)
  )
  return Layer.provideMerge((workflows ?? Layer.empty) as Layer.Layer<never, E, R>, engine) as any
}

/**
 * Crashes the test kit's runner mid-flight and starts a fresh one on the same database: the runs it was
 * executing stop where they are, as if the process died. Nothing more is written for them (no checkpoint,
 * no lease given back, a transaction in flight rolls back); the fresh runner replays them from their
 * journals. By default the crashed runner is marked dead so the fresh one takes its runs over at once;
 * `restartWith({ expireLeases: false })` keeps the leases until they expire (drive `TestClock` past
 * `leaseDuration`).
 *
 * @example
 * ```ts
 * import { GatehouseTest } from "@gatehouse/engine"
 * import { it } from "@effect/vitest"
 * import { Deferred, Effect } from "effect"
 *
 * it.effect("survives a crash inside the payment step", () =>
 *   Effect.gen(function*() {
 *     const runId = yield* Payout.start({ id: "p-1" })
 *     yield* Deferred.await(insidePayment) // the step signals it started
 *     yield* GatehouseTest.restart
 *     yield* GatehouseTest.settle
 *   }).pipe(Effect.provide(GatehouseTest.layer(PayoutLive))))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const restart: Effect.Effect<void, SqlError, TestRunner> = Effect.flatMap(
  TestRunner,
  (runner) => runner.restart()
)

/**
 * `restart` with options: `GatehouseTest.restartWith({ expireLeases: false })` leaves the crashed runner's
 * leases to expire.
 *
 * @since 0.1.0
 * @category combinators
 */
export const restartWith = (options: RestartOptions): Effect.Effect<void, SqlError, TestRunner> =>
  Effect.flatMap(TestRunner, (runner) => runner.restart(options))

/**
 * Waits until every run of the registered workflows has completed or suspended and the runner is idle:
 * nothing is runnable now (timers due at the current `Clock` time included).
 *
 * @since 0.1.0
 * @category combinators
 */
export const settle: Effect.Effect<void, SqlError, SqlClient.SqlClient | WorkflowRegistry | Runner.Runner> = Effect.gen(
  function*() {
    const { runs: store } = yield* Storage.make
    const registry = yield* WorkflowRegistry
    const runner = yield* Runner.Runner
    yield* runner.poke
    while (true) {
      const changed = yield* runner.changes
      const now = yield* Clock.currentTimeMillis
      const unsettled = yield* store.countUnsettled(registry.names(), now)
      if (unsettled === 0 && (yield* runner.idle)) return
      yield* changed
    }
  }
)

/**
 * A PostgreSQL schema of its own for one test (or benchmark), dropped when the scope closes, and a URL
 * whose connections use it (`search_path`), so tests on one database never see each other's rows.
 *
 * @example
 * ```ts
 * import { Gatehouse, GatehouseTest } from "@gatehouse/engine"
 * import { Effect, Layer } from "effect"
 *
 * const engine = Effect.gen(function*() {
 *   const { url } = yield* GatehouseTest.pgSchema({ url: "postgres://postgres@127.0.0.1:5432/test" })
 *   return yield* Layer.build(Gatehouse.layerPg({ url, workflows: RefundReviewLive }))
 * })
 * ```
 *
 * @since 0.1.0
 * @category postgres
 */
export const pgSchema = (options: {
  readonly url: string
  readonly prefix?: string | undefined
}): Effect.Effect<{ readonly schema: string; readonly url: string }, SqlError | ConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    const schema = `${options.prefix ?? "gatehouse_test"}_${randomUUID().replaceAll("-", "").slice(0, 16)}`
    const admin = Context.get(
      yield* Layer.build(PgClient.layer({ url: Redacted.make(options.url), maxConnections: 1 })),
      PgClient.PgClient
    )
    yield* Effect.acquireRelease(PgSchemas.create(admin, schema), () => Effect.ignore(PgSchemas.drop(admin, schema)))
    const url = new URL(options.url)
    url.searchParams.set("options", `-c search_path=${schema}`)
    return { schema, url: url.toString() }
  })
