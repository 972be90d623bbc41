import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { linkNow } from "../../src/internal/storage/audit.js"

/** Everything the engine stores, to compare before and after a call that must change nothing. */
export const snapshot = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  // Audit entries committed earlier are linked into the chain after their commit: link them now, so that a
  // link landing between two snapshots is not taken for a change.
  yield* linkNow(sql)
  const tables = [
    "gatehouse_runs",
    "gatehouse_nodes",
    "gatehouse_approvals",
    "gatehouse_approval_assignees",
    "gatehouse_votes",
    "gatehouse_events",
    "gatehouse_audit"
  ]
  const result: Record<string, unknown> = {}
  for (const table of tables) {
    result[table] = yield* sql.unsafe(`SELECT * FROM ${table} ORDER BY 1, 2`)
  }
  return JSON.parse(JSON.stringify(result))
})
