/**
 * The engine's tables and their migrations. Gatehouse owns its tables (runs, the node journal, and what
 * later features add) and migrates them with its own migrations table, beside any of the application's.
 *
 * @since 0.1.0
 */
import type { MigrationError } from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/storage/migrations.js"

/**
 * Runs the engine's migrations that have not run yet. Safe to call from many processes at once.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate: Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  MigrationError | SqlError,
  SqlClient.SqlClient
> = internal.run

/**
 * Migrates the engine's tables when built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<never, MigrationError | SqlError, SqlClient.SqlClient> = Layer.effectDiscard(migrate)

/**
 * The newest migration this engine has, `[id, name]`: the version of a database `migrate` brought up to
 * date (what `gatehouse migrate` prints).
 *
 * @since 0.1.0
 * @category migrations
 */
export const latest: readonly [id: number, name: string] = Object.keys(internal.migrations)
  .map((key) => [Number(key.slice(0, key.indexOf("_"))), key.slice(key.indexOf("_") + 1)] as const)
  .reduce((newest, candidate) => candidate[0] > newest[0] ? candidate : newest, [0, "none"] as const)
