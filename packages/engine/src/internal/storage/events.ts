import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Rows from "../rows.js"
import type { Events, NewEvent } from "./storage.js"

/**
 * Appends to the events outbox. Always called inside the transaction of the change it reports.
 *
 * @internal
 */
export const appendEvent = (
  sql: SqlClient.SqlClient,
  event: NewEvent
): Effect.Effect<void, SqlError> =>
  sql`INSERT INTO gatehouse_events (run_id, node_id, type, actor, data, created_at)
    VALUES (${event.runId ?? null}, ${event.nodeId ?? null}, ${event.type}, ${event.actor ?? null},
      ${event.data === undefined ? null : JSON.stringify(event.data)}, ${event.now})`.pipe(Effect.asVoid)

import { linkNow } from "./audit.js"

export { appendAudit, type AuditFields, auditHash, genesisHash } from "./audit.js"

const decodeEvents = Rows.decodeAll(Rows.EventRow, "gatehouse_events")
const decodeAudit = Rows.decodeAll(Rows.AuditRow, "gatehouse_audit")

/**
 * Events after a position `(tx, seq)`, in commit order. On PostgreSQL only events of transactions older
 * than every running one are returned, so an event that commits late never falls behind a cursor that
 * has already passed its position.
 *
 * @internal
 */
export const readEvents = (
  sql: SqlClient.SqlClient,
  options: Parameters<Events["read"]>[0]
): Effect.Effect<ReadonlyArray<Rows.EventRow>, SqlError> => {
  const [tx, seq] = options.after
  const visible = sql.onDialectOrElse({
    pg: () => sql`tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint`,
    orElse: () => sql`1 = 1`
  })
  return sql`SELECT * FROM gatehouse_events
    WHERE (tx > ${tx} OR (tx = ${tx} AND seq > ${seq})) AND ${visible}
    ${options.runId !== undefined ? sql`AND run_id = ${options.runId}` : sql``}
    ORDER BY tx, seq LIMIT ${options.limit}`.pipe(Effect.flatMap(decodeEvents))
}

/**
 * The position of the last event a reader may see now (see `readEvents`): a cursor that skips the history
 * and still misses nothing committed after it. None when the outbox is empty.
 *
 * @internal
 */
export const lastEventPosition = (
  sql: SqlClient.SqlClient
): Effect.Effect<ReadonlyArray<Rows.EventRow>, SqlError> => {
  const visible = sql.onDialectOrElse({
    pg: () => sql`tx < pg_snapshot_xmin(pg_current_snapshot())::text::bigint`,
    orElse: () => sql`1 = 1`
  })
  return sql`SELECT * FROM gatehouse_events WHERE ${visible} ORDER BY tx DESC, seq DESC LIMIT 1`.pipe(
    Effect.flatMap(decodeEvents)
  )
}

/** Every event of one run, in the order they were appended. @internal */
export const eventsOfRun = (sql: SqlClient.SqlClient, runId: string): Effect.Effect<ReadonlyArray<Rows.EventRow>, SqlError> =>
  sql`SELECT * FROM gatehouse_events WHERE run_id = ${runId} ORDER BY seq`.pipe(Effect.flatMap(decodeEvents))

/** The audit entries of one run, oldest first. @internal */
export const auditOfRun = (sql: SqlClient.SqlClient, runId: string): Effect.Effect<ReadonlyArray<Rows.AuditRow>, SqlError> =>
  linkNow(sql).pipe(
    Effect.zipRight(sql`SELECT * FROM gatehouse_audit WHERE run_id = ${runId} AND hash IS NOT NULL ORDER BY seq`),
    Effect.flatMap(decodeAudit)
  )

/** A page of the whole audit chain after an entry, in chain order. @internal */
export const auditAfter = (
  sql: SqlClient.SqlClient,
  after: number,
  limit: number
): Effect.Effect<ReadonlyArray<Rows.AuditRow>, SqlError> =>
  linkNow(sql).pipe(
    Effect.zipRight(sql`SELECT * FROM gatehouse_audit WHERE seq > ${after} AND hash IS NOT NULL ORDER BY seq LIMIT ${limit}`),
    Effect.flatMap(decodeAudit)
  )
