/**
 * The databases a test runs on: a SQLite file in a temp directory, or a PostgreSQL schema of its own
 * (`GatehouseTest.pgSchema`), each removed when the scope closes. PostgreSQL is at `DATABASE_URL`; the test
 * command sets `GATEHOUSE_PG=skip` when it found no server and CI does not require one.
 *
 * @since 0.0.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { GatehouseTest } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/**
 * The PostgreSQL server the suites use.
 *
 * @since 0.0.0
 * @category configuration
 */
export const databaseUrl: string = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/**
 * Whether the PostgreSQL suites run: skipped only when the test command found no server and CI does not
 * require one.
 *
 * @since 0.0.0
 * @category configuration
 */
export const pgAvailable: boolean = process.env.GATEHOUSE_PG !== "skip"

/**
 * One isolated database: a SQLite file in a temp directory, or a PostgreSQL schema of its own. `client()`
 * gives a new client on it each call, the way another process would connect.
 *
 * @since 0.0.0
 * @category models
 */
export interface TestDatabase {
  readonly dialect: "sqlite" | "pg"
  readonly client: () => Layer.Layer<SqlClient.SqlClient, unknown>
}

/**
 * How a dialect suite gets its database (`sqlite` or `pg`), for the scope.
 *
 * @since 0.0.0
 * @category models
 */
export type MakeDatabase = Effect.Effect<TestDatabase, unknown, Scope.Scope>

/**
 * A temp directory for the scope, removed with everything in it when the scope closes.
 *
 * @since 0.0.0
 * @category constructors
 */
export const tempDir = (prefix = "gatehouse-test-"): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), prefix))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/**
 * A SQLite file in a temp directory of its own.
 *
 * @since 0.0.0
 * @category constructors
 */
export const sqlite: MakeDatabase = Effect.gen(function*() {
  const filename = path.join(yield* tempDir(), "gatehouse.db")
  return {
    dialect: "sqlite" as const,
    client: () => SqliteClient.layer({ filename }) as Layer.Layer<SqlClient.SqlClient, unknown>
  }
})

/**
 * A PostgreSQL schema of its own on `databaseUrl`, dropped when the scope closes.
 *
 * @since 0.0.0
 * @category constructors
 */
export const pg: MakeDatabase = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_test" })
  return {
    dialect: "pg" as const,
    client: () =>
      PgClient.layer({ url: Redacted.make(url), maxConnections: 4 }) as Layer.Layer<SqlClient.SqlClient, unknown>
  }
})
