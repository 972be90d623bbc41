/**
 * Reminders of pending approvals: a durable timer per approval (`gatehouse_reminders`), written in the
 * transaction of the request, and a sweep that appends an `approval.reminder` event to the outbox when one
 * is due and the approval is still pending.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { appendEvent } from "./events.js"
import * as Rows from "../rows.js"
import { forUpdate } from "./runs.js"

/** When the reminders of one approval fall due. @internal */
export interface ReminderPlan {
  readonly firstAt: number
  readonly everyMillis: number | undefined
  /** No reminder at or after this time (the `until` limit or the approval's deadline, the earlier). */
  readonly untilAt: number | undefined
}

/** The next reminder after one due at `dueAt`, seen at `now`: the first occurrence after `now`, if any. @internal */
export const nextReminder = (plan: Omit<ReminderPlan, "firstAt">, dueAt: number, now: number): number | undefined => {
  if (plan.everyMillis === undefined || plan.everyMillis <= 0) return undefined
  const skipped = Math.floor((now - dueAt) / plan.everyMillis) + 1
  const next = dueAt + Math.max(1, skipped) * plan.everyMillis
  return plan.untilAt !== undefined && next >= plan.untilAt ? undefined : next
}

/** Stores the reminders of an approval, inside the transaction of its request. @internal */
export const insertReminder = (
  sql: SqlClient.SqlClient,
  runId: string,
  nodeId: string,
  plan: ReminderPlan
): Effect.Effect<void, SqlError> =>
  plan.untilAt !== undefined && plan.firstAt >= plan.untilAt
    ? Effect.void
    : sql`INSERT INTO gatehouse_reminders (run_id, node_id, next_at, every_ms, until_at, sent)
        VALUES (${runId}, ${nodeId}, ${plan.firstAt}, ${plan.everyMillis ?? null}, ${plan.untilAt ?? null}, 0)
        ON CONFLICT (run_id, node_id) DO NOTHING`.pipe(Effect.asVoid)

const DueRow = Schema.Struct({
  runId: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("run_id")),
  nodeId: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("node_id")),
  nextAt: Schema.propertySignature(Rows.Int).pipe(Schema.fromKey("next_at")),
  everyMs: Schema.optionalWith(Rows.Int, { nullable: true }).pipe(Schema.fromKey("every_ms")),
  untilAt: Schema.optionalWith(Rows.Int, { nullable: true }).pipe(Schema.fromKey("until_at")),
  sent: Rows.Int,
  status: Schema.optionalWith(Schema.String, { nullable: true }),
  deadline: Schema.optionalWith(Rows.Int, { nullable: true })
})
const decodeDue = Rows.decodeAll(DueRow, "gatehouse_reminders")

/**
 * Emits every reminder due at `now`, one transaction per batch; rows locked by another process are skipped
 * (it is emitting them). Reminders of approvals no longer pending are dropped. Returns how many were emitted.
 *
 * @internal
 */
export const emitDueReminders = (sql: SqlClient.SqlClient, now: number): Effect.Effect<number, SqlError> =>
  Effect.gen(function*() {
    let emitted = 0
    while (true) {
      const batch = yield* Effect.gen(function*() {
        const rows = yield* sql`SELECT r.run_id, r.node_id, r.next_at, r.every_ms, r.until_at, r.sent, a.status,
            a.deadline
          FROM gatehouse_reminders r LEFT JOIN gatehouse_approvals a ON a.run_id = r.run_id AND a.node_id = r.node_id
          WHERE r.next_at IS NOT NULL AND r.next_at <= ${now}
          ORDER BY r.next_at LIMIT 100 ${
          sql.onDialectOrElse({ pg: () => sql.literal("FOR UPDATE OF r SKIP LOCKED"), orElse: () => forUpdate(sql) })
        }`.pipe(Effect.flatMap(decodeDue))
        let sent = 0
        for (const row of rows) {
          if (row.status !== "waiting-approval" || (row.deadline !== undefined && row.nextAt >= row.deadline)) {
            yield* sql`DELETE FROM gatehouse_reminders WHERE run_id = ${row.runId} AND node_id = ${row.nodeId}`
            continue
          }
          const reminder = row.sent + 1
          const next = nextReminder({ everyMillis: row.everyMs, untilAt: row.untilAt }, row.nextAt, now)
          yield* sql`UPDATE gatehouse_reminders SET next_at = ${next ?? null}, sent = ${reminder}
            WHERE run_id = ${row.runId} AND node_id = ${row.nodeId}`
          yield* appendEvent(sql, {
            runId: row.runId,
            nodeId: row.nodeId,
            type: "approval.reminder",
            actor: "system",
            data: { reminder, dueAt: row.nextAt, ...(row.deadline !== undefined ? { deadline: row.deadline } : {}) },
            now
          })
          sent++
        }
        return { read: rows.length, sent }
      }).pipe(sql.withTransaction)
      emitted += batch.sent
      if (batch.read < 100) return emitted
    }
  })
