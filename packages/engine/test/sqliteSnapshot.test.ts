/**
 * Two processes on one SQLite file (a worker and the CLI). A transaction that read before the other
 * committed could not write (`SQLITE_BUSY_SNAPSHOT`, "database is locked", at once, whatever the busy
 * timeout), and against a process that writes all the time it could fail that way on every try. The
 * engine's transaction takes the file's write lock with its first statement instead, as `BEGIN IMMEDIATE`
 * does: another process's write waits for its commit (or, with no busy timeout, is refused), never the
 * engine's.
 */
import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Gatehouse } from "@gatehouse/engine"
import { tempDir } from "@gatehouse/test-utils/Database"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as path from "node:path"
import * as SqlStorage from "../src/internal/storage/sqlStorage.js"

describe("a SQLite file shared by two connections", () => {
  it.live("the engine's transaction holds the write lock from its first statement, and runs once", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tempDir(), "shared.db")
      const other = yield* Layer.build(Gatehouse.layerSqlClientSqlite(file))
      const mine = yield* Layer.build(Gatehouse.layerSqlClientSqlite(file))
      const otherSql = yield* Effect.provide(SqlClient.SqlClient, other)
      const sql = yield* Effect.provide(SqlClient.SqlClient, mine)
      const storage = yield* Effect.provide(SqlStorage.make, mine)
      // The engine's tables exist wherever its transactions run; the lock is taken on `gatehouse_runs`.
      yield* sql`CREATE TABLE IF NOT EXISTS gatehouse_runs (id TEXT PRIMARY KEY)`
      yield* sql`CREATE TABLE IF NOT EXISTS ledger (who TEXT NOT NULL)`
      // The other process does not wait: a write it tries while the lock is held fails at once.
      yield* otherSql.unsafe("PRAGMA busy_timeout = 0")

      let attempts = 0
      const during = yield* storage.transaction(Effect.gen(function*() {
        attempts++
        yield* sql`SELECT COUNT(*) FROM ledger`
        // Run apart: in this fiber the statement would join this transaction's connection.
        const refused = yield* Effect.promise(() =>
          Effect.runPromise(Effect.either(otherSql`INSERT INTO ledger (who) VALUES ('other')`))
        )
        yield* sql`INSERT INTO ledger (who) VALUES ('mine')`
        return refused
      }))

      assert.strictEqual(attempts, 1)
      assert.strictEqual(during._tag, "Left")
      yield* otherSql`INSERT INTO ledger (who) VALUES ('other')`
      const rows = yield* sql<{ who: string }>`SELECT who FROM ledger ORDER BY rowid`
      assert.deepStrictEqual(rows.map((row) => row.who), ["mine", "other"])
    }).pipe(Effect.scoped))
})
