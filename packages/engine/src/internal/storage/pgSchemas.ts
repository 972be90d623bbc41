import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/**
 * The PostgreSQL schemas the engine's tables may live in: a user's named schema, or a test's own. Names
 * are plain identifiers, checked before they reach a statement.
 *
 * @internal
 */
export const isIdentifier = (name: string): boolean => /^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)

/** @internal */
export const create = (
  sql: SqlClient.SqlClient,
  name: string,
  options: { readonly ifNotExists?: boolean } = {}
): Effect.Effect<void, SqlError> =>
  Effect.asVoid(sql.unsafe(`CREATE SCHEMA ${options.ifNotExists ? "IF NOT EXISTS " : ""}"${name}"`))

/** @internal */
export const drop = (sql: SqlClient.SqlClient, name: string): Effect.Effect<void, SqlError> =>
  Effect.asVoid(sql.unsafe(`DROP SCHEMA "${name}" CASCADE`))
