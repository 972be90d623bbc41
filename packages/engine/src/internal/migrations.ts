import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"

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
