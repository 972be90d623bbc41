/**
 * A test kit for users' own workflow tests: SQLite in memory, the engine's migrations, and an in-process
 * runner driven by in-process signals and `TestClock` (no polling), so a test of a seven-day wait is an
 * `it.effect` with `TestClock.adjust("7 days")` that runs in milliseconds.
 *
 * @since 0.1.0
 */
import type { MigrationError } from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import type { ConfigError } from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import * as Gatehouse from "./Gatehouse.js"
import * as Storage from "./internal/storage.js"
import { Runner } from "./Runner.js"
import { WorkflowEngine } from "./WorkflowEngine.js"

/**
 * The engine on an in-memory SQLite database with the given workflow implementations registered.
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
): Layer.Layer<Gatehouse.Services, E | MigrationError | SqlError, Exclude<R, Gatehouse.Services>> =>
  Gatehouse.layerSqlite({
    pollInterval: Duration.infinity,
    ...options,
    filename: options.filename ?? ":memory:",
    workflows
  })

/**
 * Waits until every run of the registered workflows has completed or suspended and the runner is idle:
 * nothing is runnable now (timers due at the current `Clock` time included).
 *
 * @since 0.1.0
 * @category combinators
 */
export const settle: Effect.Effect<void, SqlError, SqlClient.SqlClient | WorkflowEngine | Runner> = Effect.gen(
  function*() {
    const { runs: store } = yield* Storage.make
    const engine = yield* WorkflowEngine
    const runner = yield* Runner
    yield* runner.poke
    while (true) {
      const changed = yield* runner.changes
      const now = yield* Clock.currentTimeMillis
      const unsettled = yield* store.countUnsettled(engine.names(), now)
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
    yield* Effect.acquireRelease(
      admin.unsafe(`CREATE SCHEMA ${schema}`),
      () => admin.unsafe(`DROP SCHEMA ${schema} CASCADE`).pipe(Effect.ignore)
    )
    const url = new URL(options.url)
    url.searchParams.set("options", `-c search_path=${schema}`)
    return { schema, url: url.toString() }
  })
