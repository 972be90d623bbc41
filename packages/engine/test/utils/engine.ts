import * as SqlClient from "@effect/sql/SqlClient"
import { Gatehouse, Workflows } from "@gatehouse/engine"
import type * as Runner from "@gatehouse/engine/Runner"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { TestDatabase } from "@gatehouse/test-utils/Database"

/**
 * Builds a whole engine (client, registry, runner) on the test database, in the current scope: closing
 * the scope tears the runner down, the way a process stopping would.
 */
export const buildEngine = <E, R>(
  db: TestDatabase,
  workflows: Layer.Layer<never, E, R>,
  options: Runner.RunnerOptions = {}
): Effect.Effect<Context.Context<Gatehouse.Services>, unknown, Scope.Scope | Exclude<R, Gatehouse.Services>> =>
  Layer.build(
    Gatehouse.layer({ pollInterval: "1 second", ...options, workflows }).pipe(Layer.provideMerge(db.client()))
  ) as any

/** Only the client, on a new connection: another process sending completions or reading runs. */
export const buildClient = (
  db: TestDatabase
): Effect.Effect<Context.Context<Workflows.Workflows | SqlClient.SqlClient>, unknown, Scope.Scope> =>
  Layer.build(Gatehouse.layerClient.pipe(Layer.provideMerge(db.client())))

/** Counts executions of side effects in a table of the test database, visible to every process. */
export const sideEffects = {
  setup: Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS test_side_effects (run_id TEXT NOT NULL, label TEXT NOT NULL)`
  }),
  record: (runId: string, label: string) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`INSERT INTO test_side_effects (run_id, label) VALUES (${runId}, ${label})`
    }).pipe(Effect.orDie),
  /** The labels recorded for a run, sorted: which attempts' writes survived. */
  labels: (runId: string) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ label: string }>`SELECT label FROM test_side_effects WHERE run_id = ${runId}
        ORDER BY label`
      return rows.map((row) => row.label)
    }),
  count: (runId: string, label: string) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ n: number | string }>`SELECT COUNT(*) AS n FROM test_side_effects
        WHERE run_id = ${runId} AND label = ${label}`
      return Number(rows[0].n)
    })
}

export const provideContext = <S>(context: Context.Context<S>) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, S>> => Effect.provide(effect, context)

/** Runs `body` against an engine that is torn down when `body` ends. */
export const withEngine = <E, R, A, E2, R2>(
  db: TestDatabase,
  workflows: Layer.Layer<never, E, R>,
  body: Effect.Effect<A, E2, R2>,
  options: Runner.RunnerOptions = {}
): Effect.Effect<A, unknown, Exclude<R | R2, Gatehouse.Services>> =>
  Effect.scoped(Effect.flatMap(buildEngine(db, workflows, options), (context) => Effect.provide(body, context)))

/** Runs `body` with only a client on a new connection, closed when `body` ends. */
export const withClient = <A, E2, R2>(
  db: TestDatabase,
  body: Effect.Effect<A, E2, R2>
): Effect.Effect<A, unknown, Exclude<R2, Workflows.Workflows | SqlClient.SqlClient>> =>
  Effect.scoped(Effect.flatMap(buildClient(db), (context) => Effect.provide(body, context)))
