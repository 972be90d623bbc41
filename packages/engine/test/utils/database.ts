import { GatehouseTest } from "@gatehouse/engine"
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

/**
 * One isolated database for one test: a SQLite file in a temp directory, or a PostgreSQL schema of its
 * own. `client()` gives a new client on it each call, the way another process would connect.
 */
export interface TestDatabase {
  readonly dialect: "sqlite" | "pg"
  readonly client: () => Layer.Layer<SqlClient.SqlClient, unknown>
}

export type MakeDatabase = Effect.Effect<TestDatabase, unknown, Scope.Scope>

export const sqlite: MakeDatabase = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-test-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const filename = path.join(dir, "gatehouse.db")
  return {
    dialect: "sqlite" as const,
    client: () => SqliteClient.layer({ filename }) as Layer.Layer<SqlClient.SqlClient, unknown>
  }
})

export const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/** PostgreSQL is skipped only when the test command found no server and CI does not require one. */
export const pgAvailable = process.env.GATEHOUSE_PG !== "skip"

export const pg: MakeDatabase = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_test" })
  return {
    dialect: "pg" as const,
    client: () =>
      PgClient.layer({ url: Redacted.make(url), maxConnections: 4 }) as Layer.Layer<SqlClient.SqlClient, unknown>
  }
})
