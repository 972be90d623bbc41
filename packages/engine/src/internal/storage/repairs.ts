/**
 * The statements of run repairs (`Workflows.resume`, `Workflows.fork`): reopening an ended run, taking
 * nodes out of its journal so they run again, and starting a fork on a prefix of its origin's journal.
 * Each is called under the run's lock (`lockRun`), inside the caller's transaction.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import type { Repairs } from "./storage.js"

/** @internal */
export const makeRepairStore = (client: SqlClient.SqlClient): Repairs => {
  const sql = client.withoutTransforms()

  const reopenRun: Repairs["reopenRun"] = ({ now, runId }) =>
    sql`UPDATE gatehouse_runs SET status = 'pending', result = NULL, error = NULL, completed_at = NULL,
        lease_owner = NULL, lease_expires_at = NULL, wake_at = NULL, wake_seq = wake_seq + 1,
        repairs = repairs + 1, updated_at = ${now}
      WHERE id = ${runId} AND status IN ('failed', 'canceled')
      RETURNING id`.pipe(Effect.map((rows) => rows.length > 0))

  const dropNodes: Repairs["dropNodes"] = (runId, nodeIds) =>
    nodeIds.length === 0
      ? Effect.void
      : sql`DELETE FROM gatehouse_nodes WHERE run_id = ${runId} AND node_id IN ${sql.in(nodeIds)}`.pipe(Effect.asVoid)

  const insertFork: Repairs["insertFork"] = (fork) =>
    Effect.gen(function*() {
      yield* sql`INSERT INTO gatehouse_runs (id, workflow, payload, status, started_by, forked_from, fork_node,
          fork_seq, created_at, updated_at)
        VALUES (${fork.id}, ${fork.workflow}, ${fork.payload}, 'pending', ${fork.startedBy ?? null}, ${fork.origin},
          ${fork.fromNode}, ${fork.beforeSeq}, ${fork.now}, ${fork.now})`
      // The prefix the fork replays: what the origin completed before the node it runs again from. Its
      // approvals are not copied: the fork asks for each again, and reuses the origin's decision if it holds.
      yield* sql`INSERT INTO gatehouse_nodes (run_id, node_id, kind, status, exit, attempt, seq, fire_at, started_at,
          completed_at, json_schema)
        SELECT ${fork.id}, node_id, kind, status, exit, attempt, seq, fire_at, started_at, completed_at, json_schema
        FROM gatehouse_nodes
        WHERE run_id = ${fork.origin} AND seq < ${fork.beforeSeq} AND kind <> 'approval' AND status = 'completed'`
      yield* sql`UPDATE gatehouse_runs SET forks = ${JSON.stringify(fork.originForks)}, updated_at = ${fork.now}
        WHERE id = ${fork.origin}`
    })

  return { reopenRun, dropNodes, insertFork }
}
