import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as AfterCommit from "../afterCommit.js"
import { canonicalJson, sha256 } from "../canonical.js"
import type { NewAuditEntry } from "./storage.js"

/**
 * The audit log's hash chain: each entry stores the hash of the one before it (in `seq` order) and its own,
 * over exactly the bytes stored, so `Audit.verify` detects an edited or removed entry.
 *
 * ## Linking after the commit (PostgreSQL)
 *
 * Chaining entries as they are written would make every transaction that appends one (each decision, each
 * approval request, each cancel) wait for the chain's one lock from its append to its commit, WAL flush
 * included: every such transaction on the server, however unrelated, one after another. Instead an entry is
 * written unlinked (`prev_hash` and `hash` NULL) under the chain's lock in *shared* mode, which writers do
 * not wait for among themselves, and linked a moment (20 ms) after its transaction commits by `linkSoon`: a
 * transaction that takes the lock in *exclusive* mode (so every writer holding it has committed or rolled
 * back, and none starts meanwhile), links every unlinked entry in `seq` order after the last linked one,
 * and commits. A `seq` is drawn while its writer holds the lock, so everything drawn before the link took
 * the lock is visible to it and everything drawn after comes after: the linked entries are always a prefix
 * of the log in `seq` order, and the chain is the same one, verified the same way, as if each entry had been
 * linked as it was written. One link serves every entry committed since the one before, however many
 * writers committed meanwhile; waiting those 20 ms to gather them is what keeps writers from queueing
 * behind a link after every commit.
 *
 * An entry is unlinked for the moments between its commit and the next link; reading the log (`Audit`)
 * links first, so a reader sees every committed entry linked. If a process dies between a commit and its
 * link, the next link anywhere (or the next read) takes its entries. A transaction not started by
 * `PgWakeups.withTransaction` (nothing to run after its commit) takes the lock exclusively and links
 * inside itself, as before. On SQLite, with its single writer, every entry is linked as it is written.
 *
 * @internal
 */

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

/** The hash of an audit entry: its fields and the hash of the entry before it. @internal */
export const auditHash = (prevHash: string, fields: AuditFields): string =>
  sha256(`${prevHash}\n${canonicalJson({ ...fields, data: fields.data ?? null })}`)

const chainLock = 7253001

/**
 * Appends to the audit log inside the caller's transaction: linked after the commit on PostgreSQL (see
 * above), at once elsewhere. The chain's lock is the last lock a writer takes (see the lock order in
 * `runs.ts`).
 *
 * @internal
 */
export const appendAudit = (
  sql: SqlClient.SqlClient,
  entry: NewAuditEntry
): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    // Serialized once: the hash covers exactly what is stored, read back the way `Audit.verify` reads it.
    const dataJson = entry.data === undefined ? null : JSON.stringify(entry.data)
    const columns = sql`run_id, node_id, action, actor, request_hash, note, data, created_at`
    const values = sql`${entry.runId ?? null}, ${entry.nodeId ?? null}, ${entry.action}, ${entry.actor},
      ${entry.requestHash ?? null}, ${entry.note ?? null}, ${dataJson}, ${entry.now}`
    yield* sql.onDialectOrElse({
      pg: () =>
        Effect.flatMap(FiberRef.get(AfterCommit.current), (afterCommit) =>
          afterCommit === undefined
            ? sql`SELECT pg_advisory_xact_lock(${chainLock})`.pipe(
              Effect.zipRight(sql`INSERT INTO gatehouse_audit (${columns}) VALUES (${values})`),
              Effect.zipRight(linkUnlinked(sql))
            )
            // One statement: the lock is taken (scanning `chain_lock`) before the row, and its `seq`, is made.
            : sql`WITH chain_lock AS (SELECT pg_advisory_xact_lock_shared(${chainLock}))
                INSERT INTO gatehouse_audit (${columns}) SELECT ${values} FROM chain_lock`.pipe(
              Effect.zipRight(Effect.sync(() => {
                afterCommit.auditAppended = true
              }))
            )),
      orElse: () =>
        Effect.gen(function*() {
          const last = yield* sql<{ hash: string }>`SELECT hash FROM gatehouse_audit ORDER BY seq DESC LIMIT 1`
          const prevHash = last[0]?.hash ?? genesisHash
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
          yield* sql`INSERT INTO gatehouse_audit (${columns}, prev_hash, hash)
            VALUES (${values}, ${prevHash}, ${auditHash(prevHash, fields)})`
        })
    })
  })

interface UnlinkedRow {
  readonly seq: number | string
  readonly run_id: string | null
  readonly node_id: string | null
  readonly action: string
  readonly actor: string
  readonly request_hash: string | null
  readonly note: string | null
  readonly data: string | null
  readonly created_at: number | string
}

/**
 * Links every unlinked entry, in `seq` order after the last linked one. Only under the chain's lock held
 * exclusively, inside a transaction, on PostgreSQL.
 */
const linkUnlinked = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    const unlinked = yield* sql<UnlinkedRow>`SELECT seq, run_id, node_id, action, actor, request_hash, note, data,
        created_at
      FROM gatehouse_audit WHERE hash IS NULL ORDER BY seq`
    if (unlinked.length === 0) return
    const head = yield* sql<{ hash: string }>`SELECT hash FROM gatehouse_audit WHERE hash IS NOT NULL
      ORDER BY seq DESC LIMIT 1`
    let prevHash = head[0]?.hash ?? genesisHash
    const seqs: Array<string> = []
    const prevHashes: Array<string> = []
    const hashes: Array<string> = []
    for (const row of unlinked) {
      const hash = auditHash(prevHash, {
        runId: row.run_id ?? undefined,
        nodeId: row.node_id ?? undefined,
        action: row.action,
        actor: row.actor,
        requestHash: row.request_hash ?? undefined,
        note: row.note ?? undefined,
        data: row.data === null ? undefined : JSON.parse(row.data),
        createdAt: Number(row.created_at)
      })
      seqs.push(String(row.seq))
      prevHashes.push(prevHash)
      hashes.push(hash)
      prevHash = hash
    }
    yield* sql`UPDATE gatehouse_audit a SET prev_hash = u.prev_hash, hash = u.hash
      FROM unnest(${seqs}::bigint[], ${prevHashes}::text[], ${hashes}::text[]) AS u(seq, prev_hash, hash)
      WHERE a.seq = u.seq`
  })

/**
 * Links every unlinked entry now, in a transaction of its own (on PostgreSQL; nothing elsewhere): what a
 * reader of the log does first, so it sees every committed entry linked.
 *
 * @internal
 */
export const linkNow = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  sql.onDialectOrElse({
    pg: () =>
      sql`SELECT pg_advisory_xact_lock(${chainLock})`.pipe(
        Effect.zipRight(linkUnlinked(sql)),
        sql.withTransaction
      ),
    orElse: () => Effect.void
  })

// One link scheduled per client and process: the commits that land before it runs are linked by it, all at
// once. Waiting a moment before linking is what lets writers run side by side: each link takes the lock
// exclusively, so new writers wait while it is queued and held.
const scheduled = new WeakSet<SqlClient.SqlClient>()

/** How long a link waits to gather the commits after the one that asked for it. */
const gatherFor = Duration.millis(20)

/**
 * Links the entries a committed transaction appended, beside the caller and a moment later (see above). A
 * failure is logged: the entries stay unlinked until the next link, which takes them. Timed on the live
 * clock: a test's `TestClock` does not hold the chain back.
 *
 * @internal
 */
export const linkSoon = (sql: SqlClient.SqlClient): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (scheduled.has(sql)) return Effect.void
    scheduled.add(sql)
    return Effect.sleep(gatherFor).pipe(
      Effect.withClock(Clock.make()),
      // Cleared before the link reads: a commit from now on schedules the next one.
      Effect.zipRight(Effect.sync(() => scheduled.delete(sql))),
      Effect.zipRight(linkNow(sql)),
      Effect.catchAllCause((cause) => Effect.logDebug("Gatehouse could not link audit entries; the next link, or the next reader, will", cause)),
      Effect.forkDaemon,
      Effect.asVoid
    )
  })
