/**
 * The audit trail: an append-only, hash-chained log of every request, decision, vote, escalation,
 * timeout and cancel, with the actor, the time, the request hash the actor saw and the note. Each entry
 * stores the hash of the one before it, so `verify` finds any entry edited or removed.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { auditHash, genesisHash } from "./internal/storage/audit.js"
import * as Storage from "./internal/storage.js"
import type { AuditRow } from "./internal/rows.js"
import { mapStorage } from "./internal/storageError.js"
import type { StorageError } from "./StorageError.js"

/**
 * @since 0.1.0
 * @category models
 */
export class Entry extends Schema.Class<Entry>("@gatehouse/engine/Audit/Entry")({
  seq: Schema.Number,
  runId: Schema.optional(Schema.String),
  nodeId: Schema.optional(Schema.String),
  action: Schema.String,
  actor: Schema.String,
  requestHash: Schema.optional(Schema.String),
  note: Schema.optional(Schema.String),
  data: Schema.optional(Schema.Unknown),
  createdAt: Schema.Number,
  prevHash: Schema.String,
  hash: Schema.String
}) {}

/**
 * The outcome of `verify`: the number of entries checked, and the first broken link if any.
 *
 * @since 0.1.0
 * @category models
 */
export const Verification = Schema.Union(
  Schema.Struct({ valid: Schema.Literal(true), entries: Schema.Number }),
  Schema.Struct({
    valid: Schema.Literal(false),
    entries: Schema.Number,
    /** The `seq` of the first entry that does not verify. */
    brokenAt: Schema.Number,
    reason: Schema.Literal("edited", "missing-or-reordered")
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Verification = typeof Verification.Type

const toEntry = ({ data, ...row }: AuditRow): Entry =>
  new Entry({ ...row, ...(data !== undefined ? { data: JSON.parse(data) } : {}) })

/**
 * Reads and verifies the audit trail.
 *
 * @since 0.1.0
 * @category services
 */
export class Audit extends Context.Tag("@gatehouse/engine/Audit")<Audit, {
  /** The audit entries of one run, oldest first. */
  readonly forRun: (runId: string) => Effect.Effect<ReadonlyArray<Entry>, StorageError>
  /**
   * Walks the whole chain and reports the first entry whose hash does not match its content (edited) or
   * whose link does not match the entry before it (an entry removed or reordered).
   */
  readonly verify: Effect.Effect<Verification, StorageError>
}>() {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Audit["Type"], never, Storage.Storage> = Effect.gen(function*() {
  const storage = yield* Storage.Storage
  const forRun = (runId: string) =>
    Effect.map(storage.audit.ofRun(runId), (rows) => rows.map(toEntry)).pipe(mapStorage("Audit.forRun"))
  const verify = Effect.gen(function*() {
    let prevHash = genesisHash
    let entries = 0
    let after = 0
    while (true) {
      const rows = yield* storage.audit.after(after, 1000)
      if (rows.length === 0) return { valid: true, entries } as const
      for (const row of rows.map(toEntry)) {
        entries++
        after = row.seq
        if (row.prevHash !== prevHash) {
          return { valid: false, entries, brokenAt: row.seq, reason: "missing-or-reordered" } as const
        }
        const expected = auditHash(row.prevHash, {
          runId: row.runId,
          nodeId: row.nodeId,
          action: row.action,
          actor: row.actor,
          requestHash: row.requestHash,
          note: row.note,
          data: row.data,
          createdAt: row.createdAt
        })
        if (expected !== row.hash) return { valid: false, entries, brokenAt: row.seq, reason: "edited" } as const
        prevHash = row.hash
      }
    }
  }).pipe(mapStorage("Audit.verify"))
  return Audit.of({ forRun, verify })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Audit, never, SqlClient.SqlClient> = Layer.effect(Audit, make).pipe(
  Layer.provide(Storage.layer)
)

/**
 * The audit entries of one run, oldest first.
 *
 * @since 0.1.0
 * @category queries
 */
export const forRun = (runId: string): Effect.Effect<ReadonlyArray<Entry>, StorageError, Audit> =>
  Effect.flatMap(Audit, (audit) => audit.forRun(runId))

/**
 * Walks the whole chain and reports the first entry whose hash does not match its content (edited) or
 * whose link does not match the entry before it (an entry removed or reordered).
 *
 * @example
 * ```ts
 * import { Audit } from "@gatehouse/engine"
 * import { Effect } from "effect"
 *
 * const check = Effect.gen(function*() {
 *   const result = yield* Audit.verify
 *   if (!result.valid) yield* Effect.logError(`audit chain broken at entry ${result.brokenAt}`)
 * })
 * ```
 *
 * @since 0.1.0
 * @category verification
 */
export const verify: Effect.Effect<Verification, StorageError, Audit> = Effect.flatMap(Audit, (audit) => audit.verify)
