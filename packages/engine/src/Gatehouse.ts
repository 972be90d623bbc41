/**
 * One-line set-ups: the SQL client, the engine's migrations, the `Workflows` client, the registry and
 * a runner, on the embedded SQLite default or on PostgreSQL.
 *
 * @since 0.1.0
 */
import type { MigrationError } from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type { ConfigError } from "effect/ConfigError"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Approvals from "./Approvals.js"
import * as Events from "./Events.js"
import * as Journal from "./Journal.js"
import * as Runner from "./Runner.js"
import * as WorkflowEngine from "./WorkflowEngine.js"
import * as Workflows from "./Workflows.js"

/**
 * What the convenience layers provide.
 *
 * @since 0.1.0
 * @category models
 */
export type Services =
  | SqlClient.SqlClient
  | Workflows.Workflows
  | Approvals.Approvals
  | Events.Events
  | WorkflowEngine.WorkflowEngine
  | Runner.Runner

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<E, R> extends Runner.RunnerOptions {
  /** Workflow implementations (`MyWorkflow.toLayer(...)`) this process executes. */
  readonly workflows?: Layer.Layer<never, E, R> | undefined
}

/**
 * The engine on the SQL client in context: migrations, then the client, the registry and a runner for
 * the workflows given.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E = never, R = never>(
  options: Options<E, R> = {}
): Layer.Layer<
  Exclude<Services, SqlClient.SqlClient>,
  E | MigrationError | SqlError,
  SqlClient.SqlClient | Exclude<R, Services>
> => {
  const engine = Runner.layer(options).pipe(
    Layer.provideMerge(Layer.mergeAll(Workflows.layer, Approvals.layer, Events.layer, WorkflowEngine.layer)),
    Layer.provide(Journal.layer)
  )
  const workflows = (options.workflows ?? Layer.empty) as Layer.Layer<never, E, R>
  return Layer.provideMerge(workflows, engine) as any
}

/**
 * Only the client side (`Workflows`, `Approvals`, `Events`) on the SQL client in context, with
 * the engine's migrations: for processes that start, decide and read runs without executing them.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient: Layer.Layer<
  Workflows.Workflows | Approvals.Approvals | Events.Events,
  MigrationError | SqlError,
  SqlClient.SqlClient
> = Layer.mergeAll(Workflows.layer, Approvals.layer, Events.layer).pipe(Layer.provide(Journal.layer))

/**
 * The embedded default: SQLite in a file (WAL), or `:memory:`.
 *
 * @example
 * ```ts
 * import { Gatehouse } from "@gatehouse/engine"
 *
 * const MainLive = Gatehouse.layerSqlite({ filename: "gatehouse.db", workflows: RefundReviewLive })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = <E = never, R = never>(
  options: Options<E, R> & { readonly filename: string }
): Layer.Layer<Services, E | MigrationError | SqlError, Exclude<R, Services>> =>
  Layer.provideMerge(layer(options), SqliteClient.layer({ filename: options.filename })) as any

/**
 * PostgreSQL, for many runners on many machines sharing one database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPg = <E = never, R = never>(
  options: Options<E, R> & { readonly url: string; readonly maxConnections?: number | undefined }
): Layer.Layer<Services, E | MigrationError | SqlError | ConfigError, Exclude<R, Services>> =>
  Layer.provideMerge(
    layer(options),
    PgClient.layer({
      url: Redacted.make(options.url),
      ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {})
    })
  ) as any
