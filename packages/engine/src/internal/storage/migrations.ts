import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import { noDeadline } from "./approvals.js"
import * as Checkpoint from "./checkpoint.js"

/**
 * The engine's own migrations. Every statement is written once for both dialects; where they differ,
 * `onDialectOrElse` picks the variant. Timestamps are epoch milliseconds taken from Effect's `Clock`,
 * never from SQL `now()`, so `TestClock` drives leases and timers.
 *
 * @internal
 */
export const migrations: Record<string, Effect.Effect<void, unknown, SqlClient.SqlClient>> = {
  "0001_create_journal": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* sql`CREATE TABLE gatehouse_runs (
      id TEXT PRIMARY KEY,
      workflow TEXT NOT NULL,
      idempotency_key TEXT,
      payload TEXT NOT NULL,
      status TEXT NOT NULL,
      result TEXT,
      error TEXT,
      started_by TEXT,
      wake_seq BIGINT NOT NULL DEFAULT 0,
      wake_at BIGINT,
      lease_owner TEXT,
      lease_expires_at BIGINT,
      claims INTEGER NOT NULL DEFAULT 0,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      completed_at BIGINT
    )`
    yield* sql`CREATE INDEX gatehouse_runs_claim_idx ON gatehouse_runs (status, wake_at)`
    yield* sql`CREATE INDEX gatehouse_runs_list_idx ON gatehouse_runs (created_at, id)`
    yield* sql`CREATE INDEX gatehouse_runs_workflow_idx ON gatehouse_runs (workflow, created_at, id)`
    yield* sql`CREATE INDEX gatehouse_runs_lease_idx ON gatehouse_runs (lease_owner)`
    yield* sql`CREATE TABLE gatehouse_nodes (
      run_id TEXT NOT NULL,
      node_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      status TEXT NOT NULL,
      exit TEXT,
      attempt INTEGER NOT NULL DEFAULT 0,
      seq INTEGER NOT NULL,
      fire_at BIGINT,
      started_at BIGINT NOT NULL,
      completed_at BIGINT,
      PRIMARY KEY (run_id, node_id)
    )`
  }),
  "0002_approvals": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* sql`CREATE TABLE gatehouse_approvals (
      run_id TEXT NOT NULL,
      node_id TEXT NOT NULL,
      base_id TEXT NOT NULL,
      workflow TEXT NOT NULL,
      status TEXT NOT NULL,
      title TEXT NOT NULL,
      summary TEXT,
      metadata TEXT,
      reviewed TEXT,
      request_hash TEXT NOT NULL,
      revision INTEGER NOT NULL,
      policy TEXT NOT NULL,
      reviewers TEXT NOT NULL,
      started_by TEXT,
      deadline BIGINT,
      escalations INTEGER NOT NULL DEFAULT 0,
      decision TEXT,
      requested_at BIGINT NOT NULL,
      decided_at BIGINT,
      updated_at BIGINT NOT NULL,
      PRIMARY KEY (run_id, node_id)
    )`
    yield* sql`CREATE INDEX gatehouse_approvals_inbox_idx ON gatehouse_approvals (status, requested_at, run_id, node_id)`
    yield* sql`CREATE INDEX gatehouse_approvals_workflow_idx
      ON gatehouse_approvals (workflow, status, requested_at, run_id, node_id)`
    yield* sql`CREATE INDEX gatehouse_approvals_base_idx ON gatehouse_approvals (run_id, base_id, revision)`
    // One row per principal an approval is assigned to ("user:ana", "role:finance", or "anyone"), with
    // the status copied, so a reviewer's inbox is an index range whatever the size of the history.
    yield* sql`CREATE TABLE gatehouse_approval_assignees (
      run_id TEXT NOT NULL,
      node_id TEXT NOT NULL,
      principal TEXT NOT NULL,
      status TEXT NOT NULL,
      requested_at BIGINT NOT NULL,
      PRIMARY KEY (run_id, node_id, principal)
    )`
    yield* sql`CREATE INDEX gatehouse_approval_assignees_inbox_idx
      ON gatehouse_approval_assignees (principal, status, requested_at, run_id, node_id)`
    yield* sql`CREATE TABLE gatehouse_votes (
      run_id TEXT NOT NULL,
      node_id TEXT NOT NULL,
      voter TEXT NOT NULL,
      verdict TEXT NOT NULL,
      note TEXT,
      payload TEXT,
      request_hash TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      PRIMARY KEY (run_id, node_id, voter)
    )`
    // The ordered tables: a sequence per dialect.
    const serial = sql.onDialectOrElse({
      pg: () => sql.literal("BIGSERIAL PRIMARY KEY"),
      orElse: () => sql.literal("INTEGER PRIMARY KEY AUTOINCREMENT")
    })
    // The outbox. On PostgreSQL each event carries the id of the transaction that wrote it: a reader
    // only returns events of transactions older than every one still running, ordered by (tx, seq), so a
    // consumer's cursor never skips an event that commits late.
    const transactionId = sql.onDialectOrElse({
      pg: () => sql.literal("(pg_current_xact_id()::text::bigint)"),
      orElse: () => sql.literal("0")
    })
    yield* sql`CREATE TABLE gatehouse_events (
      seq ${serial},
      tx BIGINT NOT NULL DEFAULT ${transactionId},
      run_id TEXT,
      node_id TEXT,
      type TEXT NOT NULL,
      actor TEXT,
      data TEXT,
      created_at BIGINT NOT NULL
    )`
    yield* sql`CREATE INDEX gatehouse_events_order_idx ON gatehouse_events (tx, seq)`
    yield* sql`CREATE INDEX gatehouse_events_run_idx ON gatehouse_events (run_id, seq)`
    yield* sql`CREATE TABLE gatehouse_audit (
      seq ${serial},
      run_id TEXT,
      node_id TEXT,
      action TEXT NOT NULL,
      actor TEXT NOT NULL,
      request_hash TEXT,
      note TEXT,
      data TEXT,
      created_at BIGINT NOT NULL,
      prev_hash TEXT NOT NULL,
      hash TEXT NOT NULL
    )`
    yield* sql`CREATE INDEX gatehouse_audit_run_idx ON gatehouse_audit (run_id, seq)`
  }),
  "0003_runner_takeovers": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    // Set by each claim to the runner whose expired lease it took over (NULL for an ordinary claim): the
    // claim is one UPDATE, and its SET still sees the row as it was.
    yield* sql`ALTER TABLE gatehouse_runs ADD COLUMN taken_over_from TEXT`
  }),
  "0004_checkpoint_function": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    // The checkpoint is the hot path: one statement per step. As a function its plan is cached per
    // connection, instead of the fenced upsert being parsed and planned on every step. SQLite runs the
    // same statement inline: both forms are side by side in `checkpoint.ts`.
    yield* sql.onDialectOrElse({
      pg: () =>
        sql.unsafe(Checkpoint.pgFunction),
      orElse: () => Effect.void
    })
  }),
  "0005_vote_rounds": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    // Each escalation of an approval starts a new round of votes; only the current round's votes count
    // toward its quorum, and a reviewer votes once per round.
    yield* sql`CREATE TABLE gatehouse_votes_rounds (
      run_id TEXT NOT NULL,
      node_id TEXT NOT NULL,
      round INTEGER NOT NULL,
      voter TEXT NOT NULL,
      verdict TEXT NOT NULL,
      note TEXT,
      payload TEXT,
      request_hash TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      PRIMARY KEY (run_id, node_id, round, voter)
    )`
    yield* sql`INSERT INTO gatehouse_votes_rounds (run_id, node_id, round, voter, verdict, note, payload, request_hash,
        created_at)
      SELECT run_id, node_id, 0, voter, verdict, note, payload, request_hash, created_at FROM gatehouse_votes`
    yield* sql`DROP TABLE gatehouse_votes`
    yield* sql`ALTER TABLE gatehouse_votes_rounds RENAME TO gatehouse_votes`
  }),
  "0006_deferred_schemas": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    // The JSON Schema of a deferred's completion (`{ success, failure }`), stored when the run awaits it, so
    // a process without the workflow's code (the HTTP server) validates a completion before storing it.
    yield* sql`ALTER TABLE gatehouse_nodes ADD COLUMN json_schema TEXT`
  }),
  "0007_wake_links": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    // The span (`traceId:spanId`) of what woke a run (a decision, a deferred's completion), set by the wake.
    // The claim moves it to `claim_link`, so only the execution it resumed links to it.
    yield* sql`ALTER TABLE gatehouse_runs ADD COLUMN wake_link TEXT`
    yield* sql`ALTER TABLE gatehouse_runs ADD COLUMN claim_link TEXT`
  }),
  "0008_action_links": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    // One-click decision links (email, chat): only the SHA-256 of a token is stored, bound to one reviewer
    // (with the roles vouched for when it was minted), one approval, one request hash and one verdict.
    yield* sql`CREATE TABLE gatehouse_action_links (
      token_hash TEXT PRIMARY KEY,
      run_id TEXT NOT NULL,
      node_id TEXT NOT NULL,
      reviewer TEXT NOT NULL,
      roles TEXT NOT NULL,
      verdict TEXT NOT NULL,
      request_hash TEXT NOT NULL,
      expires_at BIGINT NOT NULL,
      created_at BIGINT NOT NULL,
      used_at BIGINT
    )`
    yield* sql`CREATE INDEX gatehouse_action_links_approval_idx ON gatehouse_action_links (run_id, node_id)`
  }),
  "0009_webhooks": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const serial = sql.onDialectOrElse({
      pg: () => sql.literal("BIGSERIAL PRIMARY KEY"),
      orElse: () => sql.literal("INTEGER PRIMARY KEY AUTOINCREMENT")
    })
    // Subscriptions. `secrets` is a JSON array of `{ secret, expiresAt? }` (the current secret first, then
    // the previous ones a rotation keeps until they expire): signing needs the raw key, so it is stored as
    // given and never returned after creation or rotation.
    yield* sql`CREATE TABLE gatehouse_webhooks (
      id TEXT PRIMARY KEY,
      url TEXT NOT NULL,
      description TEXT,
      event_types TEXT,
      workflows TEXT,
      secrets TEXT NOT NULL,
      enabled INTEGER NOT NULL,
      max_concurrency INTEGER NOT NULL,
      format TEXT NOT NULL,
      reviewer TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL
    )`
    // How far the outbox has been fanned out into deliveries: one row, moved in the same transaction as
    // the deliveries it created. The outbox read only returns events of transactions older than every one
    // still running (PostgreSQL), so the cursor never passes an event that commits late.
    yield* sql`CREATE TABLE gatehouse_webhook_cursor (
      id INTEGER PRIMARY KEY,
      tx BIGINT NOT NULL,
      seq BIGINT NOT NULL
    )`
    yield* sql`INSERT INTO gatehouse_webhook_cursor (id, tx, seq) VALUES (1, 0, 0)`
    // One row per (subscription, event): the message, its body fixed when fanned out, and its delivery
    // state. `seq` is the fan-out order, which is the outbox order: per-run order is by `seq`.
    yield* sql`CREATE TABLE gatehouse_webhook_deliveries (
      seq ${serial},
      id TEXT NOT NULL UNIQUE,
      webhook_id TEXT NOT NULL,
      event_tx BIGINT,
      event_seq BIGINT,
      run_id TEXT,
      type TEXT NOT NULL,
      body TEXT NOT NULL,
      status TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      next_attempt_at BIGINT NOT NULL,
      retry_from BIGINT NOT NULL,
      lease_owner TEXT,
      lease_expires_at BIGINT,
      last_status INTEGER,
      last_error TEXT,
      created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL,
      delivered_at BIGINT,
      UNIQUE (webhook_id, event_tx, event_seq)
    )`
    yield* sql`CREATE INDEX gatehouse_webhook_deliveries_due_idx
      ON gatehouse_webhook_deliveries (status, next_attempt_at)`
    yield* sql`CREATE INDEX gatehouse_webhook_deliveries_order_idx
      ON gatehouse_webhook_deliveries (webhook_id, run_id, seq)`
    yield* sql`CREATE TABLE gatehouse_webhook_attempts (
      delivery_seq BIGINT NOT NULL,
      attempt INTEGER NOT NULL,
      started_at BIGINT NOT NULL,
      status_code INTEGER,
      latency_ms INTEGER NOT NULL,
      error TEXT,
      response TEXT,
      PRIMARY KEY (delivery_seq, attempt)
    )`
    // Reminders of pending approvals (`remind` on `Approval.request`): a durable timer per approval, written
    // with the request, swept by the dispatcher, stopped once the approval is no longer pending.
    yield* sql`CREATE TABLE gatehouse_reminders (
      run_id TEXT NOT NULL,
      node_id TEXT NOT NULL,
      next_at BIGINT,
      every_ms BIGINT,
      until_at BIGINT,
      sent INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (run_id, node_id)
    )`
    yield* sql`CREATE INDEX gatehouse_reminders_due_idx ON gatehouse_reminders (next_at)`
  }),
  "0011_policy": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const serial = sql.onDialectOrElse({
      pg: () => sql.literal("BIGSERIAL PRIMARY KEY"),
      orElse: () => sql.literal("INTEGER PRIMARY KEY AUTOINCREMENT")
    })
    // Every policy ever activated, by snapshot id; the active one is the latest activation, so every
    // process evaluates the same policy and a former one can be activated again.
    yield* sql`CREATE TABLE gatehouse_policies (
      snapshot_id TEXT PRIMARY KEY,
      version TEXT NOT NULL,
      document TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`
    yield* sql`CREATE TABLE gatehouse_policy_activations (
      seq ${serial},
      snapshot_id TEXT NOT NULL,
      activated_by TEXT NOT NULL,
      activated_at BIGINT NOT NULL
    )`
    // Every evaluation, with the action evaluated: what a run's policy history shows and what a backtest
    // replays a draft over.
    yield* sql`CREATE TABLE gatehouse_policy_evaluations (
      seq ${serial},
      run_id TEXT,
      node_id TEXT,
      workflow TEXT NOT NULL,
      action_name TEXT,
      snapshot_id TEXT NOT NULL,
      rule_id TEXT,
      decision TEXT NOT NULL,
      action TEXT NOT NULL,
      action_hash TEXT NOT NULL,
      created_at BIGINT NOT NULL
    )`
    yield* sql`CREATE INDEX gatehouse_policy_evaluations_time_idx ON gatehouse_policy_evaluations (created_at)`
    yield* sql`CREATE INDEX gatehouse_policy_evaluations_run_idx ON gatehouse_policy_evaluations (run_id, seq)`
    // Fixed-window throttle counters shared by every process: one row per key and window.
    yield* sql`CREATE TABLE gatehouse_policy_throttles (
      throttle_key TEXT NOT NULL,
      window_start BIGINT NOT NULL,
      admitted INTEGER NOT NULL,
      PRIMARY KEY (throttle_key, window_start)
    )`
    // A run whose start the policy put behind an approval: the approval's settings, read before its body.
    yield* sql`ALTER TABLE gatehouse_runs ADD COLUMN start_gate TEXT`
  }),
  "0012_inbox_orders": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    // The inbox by nearest deadline, none last: the key is `COALESCE(deadline, noDeadline)`, indexed as that
    // expression (the list query writes the same one). Newest first reads the `requested_at` indexes
    // backwards and needs none of its own.
    const dueAt = sql.literal(`COALESCE(deadline, ${noDeadline})`)
    yield* sql`CREATE INDEX gatehouse_approvals_deadline_idx ON gatehouse_approvals (status, ${dueAt}, run_id, node_id)`
    yield* sql`CREATE INDEX gatehouse_approvals_workflow_deadline_idx
      ON gatehouse_approvals (workflow, status, ${dueAt}, run_id, node_id)`
    // A reviewer's inbox by deadline: the deadline copied to the assignees as the status and the request
    // time are (written with them, and again on an escalation).
    yield* sql`ALTER TABLE gatehouse_approval_assignees ADD COLUMN deadline BIGINT`
    yield* sql`UPDATE gatehouse_approval_assignees SET deadline = (SELECT a.deadline FROM gatehouse_approvals a
        WHERE a.run_id = gatehouse_approval_assignees.run_id AND a.node_id = gatehouse_approval_assignees.node_id)
      WHERE EXISTS (SELECT 1 FROM gatehouse_approvals a WHERE a.run_id = gatehouse_approval_assignees.run_id
        AND a.node_id = gatehouse_approval_assignees.node_id AND a.deadline IS NOT NULL)`
    yield* sql`CREATE INDEX gatehouse_approval_assignees_deadline_idx
      ON gatehouse_approval_assignees (principal, status, ${dueAt}, run_id, node_id)`
    // "Decided by me": the approvals a reviewer voted on or decided, indexed among the assignees under the
    // principal `decided:<actor>` (written with the vote's or decision's audit entry), in any status; and the
    // reviewer's audit entries, by index, for "decided by me" within a reviewer's inbox.
    yield* sql`INSERT INTO gatehouse_approval_assignees (run_id, node_id, principal, status, requested_at, deadline)
      SELECT DISTINCT a.run_id, a.node_id, 'decided:' || au.actor, a.status, a.requested_at, a.deadline
      FROM gatehouse_audit au JOIN gatehouse_approvals a ON a.run_id = au.run_id AND a.node_id = au.node_id
      WHERE au.action IN ('approval.voted', 'approval.decided')
      ON CONFLICT DO NOTHING`
    yield* sql`CREATE INDEX gatehouse_approval_assignees_any_idx
      ON gatehouse_approval_assignees (principal, requested_at, run_id, node_id)`
    yield* sql`CREATE INDEX gatehouse_approval_assignees_any_deadline_idx
      ON gatehouse_approval_assignees (principal, ${dueAt}, run_id, node_id)`
    yield* sql`CREATE INDEX gatehouse_audit_actor_idx ON gatehouse_audit (actor, action, run_id, node_id)`
  }),
  "0013_audit_linked_after_commit": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    // On PostgreSQL an audit entry is written unlinked and linked into the chain once its transaction has
    // committed (`audit.ts`); the unlinked ones are found by a small partial index.
    yield* sql.onDialectOrElse({
      pg: () =>
        Effect.all([
          sql`ALTER TABLE gatehouse_audit ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN hash DROP NOT NULL`,
          sql`CREATE INDEX gatehouse_audit_unlinked_idx ON gatehouse_audit (seq) WHERE hash IS NULL`
        ], { discard: true }),
      orElse: () => Effect.void
    })
  }),
  "0014_repair": Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    // A fork names the run and node it was forked from, and the origin lists its forks (a JSON array), so
    // either side shows the other without a search. `repairs` counts resumes: a run that was repaired
    // checks the decisions it had before against the request its code builds now (`approvalReuse.ts`).
    yield* sql`ALTER TABLE gatehouse_runs ADD COLUMN forked_from TEXT`
    yield* sql`ALTER TABLE gatehouse_runs ADD COLUMN fork_node TEXT`
    yield* sql`ALTER TABLE gatehouse_runs ADD COLUMN fork_seq INTEGER`
    yield* sql`ALTER TABLE gatehouse_runs ADD COLUMN forks TEXT`
    yield* sql`ALTER TABLE gatehouse_runs ADD COLUMN repairs INTEGER NOT NULL DEFAULT 0`
    // The decision an approval had before it was asked again (JSON), shown to its reviewers.
    yield* sql`ALTER TABLE gatehouse_approvals ADD COLUMN previous TEXT`
  })
}

/**
 * The name of the engine's migrations table, kept apart from the application's own migrations.
 *
 * @internal
 */
export const migrationsTable = "gatehouse_migrations"

/** @internal */
export const run = Migrator.make({})({
  loader: Migrator.fromRecord(migrations),
  table: migrationsTable
})
