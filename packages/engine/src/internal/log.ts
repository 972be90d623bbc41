import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import { canonicalJson, sha256 } from "./canonical.js"
import * as Rows from "./rows.js"

/**
 * Appends to the events outbox. Always called inside the transaction of the change it reports.
 *
 * @internal
 */
export const appendEvent = (
  sql: SqlClient.SqlClient,
  event: {
    readonly runId: string | undefined
    readonly nodeId?: string | undefined
    readonly type: string
    readonly actor?: string | undefined
    readonly data?: unknown
    readonly now: number
  }
): Effect.Effect<void, SqlError> =>
  sql`INSERT INTO gatehouse_events (run_id, node_id, type, actor, data, created_at)
    VALUES (${event.runId ?? null}, ${event.nodeId ?? null}, ${event.type}, ${event.actor ?? null},
      ${event.data === undefined ? null : JSON.stringify(event.data)}, ${event.now})`.pipe(Effect.asVoid)

/** @internal */
export const genesisHash = "0".repeat(64)

/** @internal */
export interface AuditFields {
  readonly runId: string | undefined
  readonly nodeId: string | undefined
  readonly action: string
  readonly actor: string
  readonly requestHash: string | undefined
  readonly note: string | undefined
  readonly data: unknown
  readonly createdAt: number
}

/** What an audit entry's hash covers besides the hash before it: its fields, as canonical JSON. @internal */
export const auditBody = (fields: AuditFields): string => canonicalJson({ ...fields, data: fields.data ?? null })

/** The hash of an audit entry: its fields and the hash of the entry before it. @internal */
export const auditHash = (prevHash: string, fields: AuditFields): string => sha256(`${prevHash}\n${auditBody(fields)}`)

/**
 * Appends to the hash-chained audit log, inside the caller's transaction. Appends are serialized (an
 * advisory lock on PostgreSQL, the single writer on SQLite) so the chain never forks.
 *
 * The lock is held from here to the caller's commit, and every decision and approval request anywhere
 * waits for it, so what runs under it is kept short: the lock is the last thing a writer takes (see the
 * lock order in `store.ts`), and on PostgreSQL the read of the chain's head and the insert are one
 * statement that computes the hash itself (`sha256` over the same bytes `auditHash` hashes: the hash
 * before it, a newline and the entry's canonical JSON, in UTF-8). That statement runs after the lock is
 * taken, in a statement of its own, so its snapshot sees every entry committed before.
 *
 * @internal
 */
export const appendAudit = (
  sql: SqlClient.SqlClient,
  entry: {
    readonly runId: string | undefined
    readonly nodeId?: string | undefined
    readonly action: string
    readonly actor: string
    readonly requestHash?: string | undefined
    readonly note?: string | undefined
    readonly data?: unknown
    readonly now: number
  }
): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    // Serialized once: the hash covers exactly what is stored, read back the way `Audit.verify` reads it.
    const dataJson = entry.data === undefined ? null : JSON.stringify(entry.data)
    const fields: AuditFields = {
      runId: entry.runId,
      nodeId: entry.nodeId,
      action: entry.action,
      actor: entry.actor,
      requestHash: entry.requestHash,
      note: entry.note,
      data: dataJson === null ? undefined : JSON.parse(dataJson),
      createdAt: entry.now
    }
    const columns = sql`run_id, node_id, action, actor, request_hash, note, data, created_at, prev_hash, hash`
    const values = sql`${entry.runId ?? null}, ${entry.nodeId ?? null}, ${entry.action}, ${entry.actor},
      ${entry.requestHash ?? null}, ${entry.note ?? null}, ${dataJson}, ${entry.now}`
    yield* sql.onDialectOrElse({
      pg: () =>
        sql`SELECT pg_advisory_xact_lock(7253001)`.pipe(
          Effect.zipRight(sql`INSERT INTO gatehouse_audit (${columns})
            SELECT ${values}, head.hash, encode(sha256(convert_to(head.hash || chr(10) || ${auditBody(fields)}, 'UTF8')), 'hex')
            FROM (SELECT COALESCE((SELECT hash FROM gatehouse_audit ORDER BY seq DESC LIMIT 1), ${genesisHash}) AS hash) head`)
        ),
      orElse: () =>
        Effect.gen(function*() {
          const last = yield* sql<{ hash: string }>`SELECT hash FROM gatehouse_audit ORDER BY seq DESC LIMIT 1`
          const prevHash = last[0]?.hash ?? genesisHash
          yield* sql`INSERT INTO gatehouse_audit (${columns}) VALUES (${values}, ${prevHash}, ${auditHash(prevHash, fields)})`
        })
    })
  })

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
  options: { readonly after: readonly [tx: number, seq: number]; readonly limit: number; readonly runId?: string | undefined }
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
  sql`SELECT * FROM gatehouse_audit WHERE run_id = ${runId} ORDER BY seq`.pipe(Effect.flatMap(decodeAudit))

/** A page of the whole audit chain after an entry, in chain order. @internal */
export const auditAfter = (
  sql: SqlClient.SqlClient,
  after: number,
  limit: number
): Effect.Effect<ReadonlyArray<Rows.AuditRow>, SqlError> =>
  sql`SELECT * FROM gatehouse_audit WHERE seq > ${after} ORDER BY seq LIMIT ${limit}`.pipe(Effect.flatMap(decodeAudit))
