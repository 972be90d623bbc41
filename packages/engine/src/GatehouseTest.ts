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
import type * as Layer from "effect/Layer"
import * as Gatehouse from "./Gatehouse.js"
import { makeStore } from "./internal/store.js"
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
    const store = makeStore(yield* SqlClient.SqlClient)
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
