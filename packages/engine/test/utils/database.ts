import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
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

const withSearchPath = (url: string, schema: string): string => {
  const parsed = new URL(url)
  parsed.searchParams.set("options", `-c search_path=${schema}`)
  return parsed.toString()
}

export const pg: MakeDatabase = Effect.gen(function*() {
  const schema = `gh_test_${randomUUID().replaceAll("-", "").slice(0, 16)}`
  const admin = yield* Layer.build(PgClient.layer({ url: Redacted.make(databaseUrl), maxConnections: 1 }))
  const sql = Context.get(admin, PgClient.PgClient)
  yield* Effect.acquireRelease(
    sql.unsafe(`CREATE SCHEMA ${schema}`),
    () => sql.unsafe(`DROP SCHEMA ${schema} CASCADE`).pipe(Effect.ignore)
  )
  const url = withSearchPath(databaseUrl, schema)
  return {
    dialect: "pg" as const,
    client: () =>
      PgClient.layer({ url: Redacted.make(url), maxConnections: 4 }) as Layer.Layer<SqlClient.SqlClient, unknown>
  }
})
