/**
 * Two processes on one SQLite file (a worker and the CLI): a transaction that read before the other
 * committed cannot write (`SQLITE_BUSY_SNAPSHOT`, "database is locked", at once, whatever the busy timeout).
 * The engine's transaction tries it again whole, on a fresh snapshot, instead of failing a decision.
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
  it.live("a transaction whose snapshot went stale is tried again whole, and writes once", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tempDir(), "shared.db")
      const other = yield* Layer.build(Gatehouse.layerSqlClientSqlite(file))
      const mine = yield* Layer.build(Gatehouse.layerSqlClientSqlite(file))
      const otherSql = yield* Effect.provide(SqlClient.SqlClient, other)
      const sql = yield* Effect.provide(SqlClient.SqlClient, mine)
      const storage = yield* Effect.provide(SqlStorage.make, mine)
      yield* sql`CREATE TABLE IF NOT EXISTS ledger (who TEXT NOT NULL)`

      let attempts = 0
      yield* storage.transaction(Effect.gen(function*() {
        attempts++
        yield* sql`SELECT COUNT(*) FROM ledger`
        // The other connection commits between this transaction's read and its write, once (run apart: in
        // this fiber the statement would join this transaction's connection).
        if (attempts === 1) yield* Effect.promise(() => Effect.runPromise(otherSql`INSERT INTO ledger (who) VALUES ('other')`))
        yield* sql`INSERT INTO ledger (who) VALUES ('mine')`
      }))

      assert.strictEqual(attempts, 2)
      const rows = yield* sql<{ who: string }>`SELECT who FROM ledger ORDER BY rowid`
      assert.deepStrictEqual(rows.map((row) => row.who), ["other", "mine"])
    }).pipe(Effect.scoped))
})
