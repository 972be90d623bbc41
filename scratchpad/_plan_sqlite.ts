import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { Migrations } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
const M = 9007199254740991
const qs: Record<string, string> = {
  pendingReq: `SELECT a.* FROM gatehouse_approvals a WHERE a.status = 'waiting-approval' AND (a.requested_at, a.run_id, a.node_id) > (1, 'x', 'y') ORDER BY a.requested_at ASC, a.run_id ASC, a.node_id ASC LIMIT 50`,
  pendingNew: `SELECT a.* FROM gatehouse_approvals a WHERE a.status = 'waiting-approval' AND (a.requested_at, a.run_id, a.node_id) < (1, 'x', 'y') ORDER BY a.requested_at DESC, a.run_id DESC, a.node_id DESC LIMIT 50`,
  pendingDl: `SELECT a.* FROM gatehouse_approvals a WHERE a.status = 'waiting-approval' AND (COALESCE(a.deadline, ${M}), a.run_id, a.node_id) > (1, 'x', 'y') ORDER BY COALESCE(a.deadline, ${M}) ASC, a.run_id ASC, a.node_id ASC LIMIT 50`,
  wfDl: `SELECT a.* FROM gatehouse_approvals a WHERE a.status = 'waiting-approval' AND a.workflow = 'w' AND (COALESCE(a.deadline, ${M}), a.run_id, a.node_id) > (1, 'x', 'y') ORDER BY COALESCE(a.deadline, ${M}) ASC, a.run_id ASC, a.node_id ASC LIMIT 50`,
  revDl: `SELECT u.* FROM (SELECT * FROM (SELECT a.* FROM gatehouse_approval_assignees s JOIN gatehouse_approvals a ON a.run_id = s.run_id AND a.node_id = s.node_id WHERE s.principal = 'user:x' AND s.status = 'waiting-approval' AND (COALESCE(s.deadline, ${M}), s.run_id, s.node_id) > (1, 'x', 'y') ORDER BY COALESCE(s.deadline, ${M}) ASC, s.run_id ASC, s.node_id ASC LIMIT 50) p0 UNION SELECT * FROM (SELECT a.* FROM gatehouse_approval_assignees s JOIN gatehouse_approvals a ON a.run_id = s.run_id AND a.node_id = s.node_id WHERE s.principal = 'anyone' AND s.status = 'waiting-approval' AND (COALESCE(s.deadline, ${M}), s.run_id, s.node_id) > (1, 'x', 'y') ORDER BY COALESCE(s.deadline, ${M}) ASC, s.run_id ASC, s.node_id ASC LIMIT 50) p1) u ORDER BY COALESCE(u.deadline, ${M}) ASC, u.run_id ASC, u.node_id ASC LIMIT 50`,
  revNew: `SELECT a.* FROM gatehouse_approval_assignees s JOIN gatehouse_approvals a ON a.run_id = s.run_id AND a.node_id = s.node_id WHERE s.principal = 'user:x' AND s.status = 'waiting-approval' AND (s.requested_at, s.run_id, s.node_id) < (1, 'x', 'y') ORDER BY s.requested_at DESC, s.run_id DESC, s.node_id DESC LIMIT 50`,
  pendingDl2: `SELECT a.* FROM gatehouse_approvals a WHERE a.status = 'waiting-approval' AND COALESCE(a.deadline, ${M}) >= 1 AND (COALESCE(a.deadline, ${M}), a.run_id, a.node_id) > (1, 'x', 'y') ORDER BY COALESCE(a.deadline, ${M}) ASC, a.run_id ASC, a.node_id ASC LIMIT 50`,
  revDl2: `SELECT a.* FROM gatehouse_approval_assignees s JOIN gatehouse_approvals a ON a.run_id = s.run_id AND a.node_id = s.node_id WHERE s.principal = 'user:x' AND s.status = 'waiting-approval' AND COALESCE(s.deadline, ${M}) >= 1 AND (COALESCE(s.deadline, ${M}), s.run_id, s.node_id) > (1, 'x', 'y') ORDER BY COALESCE(s.deadline, ${M}) ASC, s.run_id ASC, s.node_id ASC LIMIT 50`,
  decided2: `SELECT a.* FROM gatehouse_approvals a WHERE (a.run_id, a.node_id) IN (SELECT au.run_id, au.node_id FROM gatehouse_audit au WHERE au.actor = 'r' AND au.action IN ('approval.voted', 'approval.decided')) ORDER BY a.requested_at, a.run_id, a.node_id LIMIT 50`,
  decided: `SELECT a.* FROM gatehouse_approvals a WHERE EXISTS (SELECT 1 FROM gatehouse_audit au WHERE au.actor = 'r' AND au.action IN ('approval.voted', 'approval.decided') AND au.run_id = a.run_id AND au.node_id = a.node_id) ORDER BY a.requested_at, a.run_id, a.node_id LIMIT 50`
}
Effect.gen(function*() {
  yield* Migrations.migrate
  const sql = yield* SqlClient.SqlClient
  for (const [k, q] of Object.entries(qs)) {
    const rows = yield* sql.unsafe(`EXPLAIN QUERY PLAN ${q}`)
    console.log(k, rows.map((r: any) => r.detail).join(" | "))
  }
}).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" })), Effect.runPromise).catch(console.error)
