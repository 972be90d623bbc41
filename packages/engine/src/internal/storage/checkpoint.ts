/**
 * The checkpoint: one write, in two forms, side by side. It records a node's Exit, fenced on the run's
 * lease (a runner that lost its lease writes nothing), and never overwrites a completed node.
 *
 * - On PostgreSQL it is the function `gatehouse_checkpoint` (`pgFunction`, created by migration
 *   `0004_checkpoint_function`): the hot path, one statement per step, whose plan is cached per connection
 *   instead of the fenced upsert being parsed and planned on every step.
 * - On SQLite it is the same upsert as a statement (`sqliteStatement`), run inline.
 *
 * A change to one is a change to the other (and, for PostgreSQL, a new migration replacing the function).
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import type { NewNode } from "./storage.js"

/**
 * The lease fence: the run is running under `owner`'s lease.
 *
 * @internal
 */
export const fence = (sql: SqlClient.SqlClient, runId: string, owner: string): Statement.Statement<unknown> =>
  sql`EXISTS (SELECT 1 FROM gatehouse_runs WHERE id = ${runId} AND lease_owner = ${owner} AND status = 'running')`

/**
 * A node's columns, as a `SELECT` of values.
 *
 * @internal
 */
export const nodeValues = (sql: SqlClient.SqlClient, node: NewNode): Statement.Statement<unknown> =>
  sql`SELECT ${node.runId}, ${node.nodeId}, ${node.kind}, ${node.status},
      ${node.exit === undefined ? null : JSON.stringify(node.exit)}, CAST(${node.attempt} AS INTEGER),
      CAST(${node.seq} AS INTEGER), CAST(${node.fireAt ?? null} AS BIGINT), CAST(${node.now} AS BIGINT),
      CAST(${node.status === "completed" ? node.now : null} AS BIGINT)`

/**
 * The PostgreSQL form: `gatehouse_checkpoint(run_id, owner, node_id, kind, status, exit, attempt, seq,
 * fire_at, now)` returns whether it wrote. Migration `0004_checkpoint_function` creates it from this text.
 *
 * @internal
 */
export const pgFunction = `CREATE OR REPLACE FUNCTION gatehouse_checkpoint(
        p_run_id TEXT, p_owner TEXT, p_node_id TEXT, p_kind TEXT, p_status TEXT, p_exit TEXT,
        p_attempt INTEGER, p_seq INTEGER, p_fire_at BIGINT, p_now BIGINT
      ) RETURNS BOOLEAN LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO gatehouse_nodes (run_id, node_id, kind, status, exit, attempt, seq, fire_at, started_at, completed_at)
        SELECT p_run_id, p_node_id, p_kind, p_status, p_exit, p_attempt, p_seq, p_fire_at, p_now,
          CASE WHEN p_status = 'completed' THEN p_now END
        WHERE EXISTS (SELECT 1 FROM gatehouse_runs WHERE id = p_run_id AND lease_owner = p_owner AND status = 'running')
        ON CONFLICT (run_id, node_id) DO UPDATE SET status = excluded.status, exit = excluded.exit,
          attempt = excluded.attempt, completed_at = excluded.completed_at
        WHERE gatehouse_nodes.status <> 'completed';
        RETURN FOUND;
      END
      $$`

/**
 * The SQLite form: the same upsert, fenced the same way; a row returned means it wrote.
 *
 * @internal
 */
export const sqliteStatement = (sql: SqlClient.SqlClient, owner: string, node: NewNode): Statement.Statement<unknown> =>
  sql`INSERT INTO gatehouse_nodes (run_id, node_id, kind, status, exit, attempt, seq, fire_at, started_at,
      completed_at)
    ${nodeValues(sql, node)} WHERE ${fence(sql, node.runId, owner)}
    ON CONFLICT (run_id, node_id) DO UPDATE SET status = excluded.status, exit = excluded.exit,
      attempt = excluded.attempt, completed_at = excluded.completed_at
    WHERE gatehouse_nodes.status <> 'completed'
    RETURNING node_id`
