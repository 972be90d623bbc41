/**
 * The statements of webhook delivery: subscriptions, the fan-out of the events outbox into one delivery
 * per (subscription, event), claims of due deliveries under a lease (`FOR UPDATE SKIP LOCKED` on
 * PostgreSQL), and the record of each attempt.
 *
 * @internal
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { readEvents } from "./events.js"
import * as Rows from "../rows.js"
import { forUpdate, leaseNow } from "./runs.js"
import type { NewWebhook, Webhooks } from "./storage.js"

const column = <A, I>(name: string, schema: Schema.Schema<A, I>) =>
  Schema.optionalWith(schema, { nullable: true }).pipe(Schema.fromKey(name))
const required = <A, I>(name: string, schema: Schema.Schema<A, I>) =>
  Schema.propertySignature(schema).pipe(Schema.fromKey(name))
const StringList = Schema.parseJson(Schema.Array(Schema.String))

/** A signing secret; previous secrets of a rotation carry the time they stop being used. @internal */
export const StoredSecret = Schema.Struct({ secret: Schema.String, expiresAt: Schema.optional(Schema.Number) })

/** `gatehouse_webhooks` @internal */
export const WebhookRow = Schema.Struct({
  id: Schema.String,
  url: Schema.String,
  description: column("description", Schema.String),
  eventTypes: column("event_types", StringList),
  workflows: column("workflows", StringList),
  secrets: Schema.parseJson(Schema.Array(StoredSecret)),
  enabled: Schema.Union(Schema.Boolean, Schema.transform(Rows.Int, Schema.Boolean, {
    strict: true,
    decode: (n) => n !== 0,
    encode: (b) => (b ? 1 : 0)
  })),
  maxConcurrency: required("max_concurrency", Rows.Int),
  format: Schema.Literal("standard", "slack"),
  reviewer: column("reviewer", Schema.parseJson(Schema.Struct({
    id: Schema.String,
    roles: Schema.optional(Schema.Array(Schema.String))
  }))),
  createdAt: required("created_at", Rows.Int),
  updatedAt: required("updated_at", Rows.Int)
})

/** @internal */
export type WebhookRow = typeof WebhookRow.Type

/** `gatehouse_webhook_deliveries` @internal */
export const DeliveryRow = Schema.Struct({
  seq: Rows.Int,
  id: Schema.String,
  webhookId: required("webhook_id", Schema.String),
  runId: column("run_id", Schema.String),
  type: Schema.String,
  body: Schema.String,
  status: Schema.Literal("pending", "delivering", "delivered", "dead"),
  attempts: Rows.Int,
  nextAttemptAt: required("next_attempt_at", Rows.Int),
  retryFrom: required("retry_from", Rows.Int),
  leaseOwner: column("lease_owner", Schema.String),
  lastStatus: column("last_status", Rows.Int),
  lastError: column("last_error", Schema.String),
  createdAt: required("created_at", Rows.Int),
  updatedAt: required("updated_at", Rows.Int),
  deliveredAt: column("delivered_at", Rows.Int)
})

/** @internal */
export type DeliveryRow = typeof DeliveryRow.Type

/** `gatehouse_webhook_attempts` @internal */
export const AttemptRow = Schema.Struct({
  attempt: Rows.Int,
  startedAt: required("started_at", Rows.Int),
  statusCode: column("status_code", Rows.Int),
  latencyMs: required("latency_ms", Rows.Int),
  error: column("error", Schema.String),
  response: column("response", Schema.String)
})

/** @internal */
export type AttemptRow = typeof AttemptRow.Type

const decodeWebhooks = Rows.decodeAll(WebhookRow, "gatehouse_webhooks")
const decodeDeliveries = Rows.decodeAll(DeliveryRow, "gatehouse_webhook_deliveries")
const decodeAttempts = Rows.decodeAll(AttemptRow, "gatehouse_webhook_attempts")

/** What the fan-out knows of an approval node, for the event's body. @internal */
export const ApprovalContextRow = Schema.Struct({
  title: Schema.String,
  summary: column("summary", Schema.String),
  metadata: column("metadata", Rows.JsonText),
  requestHash: required("request_hash", Schema.String),
  revision: Rows.Int,
  status: Schema.String,
  deadline: column("deadline", Rows.Int),
  reviewers: Rows.JsonText
})
const decodeApprovalContext = Rows.decodeAll(ApprovalContextRow, "gatehouse_approvals")

/** An event of the outbox as the fan-out reads it, with its run's workflow. @internal */
export interface FanOutEvent extends Rows.EventRow {
  readonly workflow: string | undefined
}

/** @internal */
export const makeWebhookStore = (sql: SqlClient.SqlClient) => {
  const insertWebhook = (row: NewWebhook): Effect.Effect<void, SqlError> =>
    sql`INSERT INTO gatehouse_webhooks (id, url, description, event_types, workflows, secrets, enabled,
        max_concurrency, format, reviewer, created_at, updated_at)
      VALUES (${row.id}, ${row.url}, ${row.description ?? null},
        ${row.eventTypes === undefined ? null : JSON.stringify(row.eventTypes)},
        ${row.workflows === undefined ? null : JSON.stringify(row.workflows)}, ${JSON.stringify(row.secrets)},
        ${row.enabled ? 1 : 0}, ${row.maxConcurrency}, ${row.format},
        ${row.reviewer === undefined ? null : JSON.stringify(row.reviewer)}, ${row.now}, ${row.now})`.pipe(Effect.asVoid)

  const listWebhooks: Effect.Effect<ReadonlyArray<WebhookRow>, SqlError> = Effect.suspend(() =>
    sql`SELECT * FROM gatehouse_webhooks ORDER BY created_at, id`.pipe(Effect.flatMap(decodeWebhooks))
  )

  const getWebhook = (id: string): Effect.Effect<WebhookRow | undefined, SqlError> =>
    sql`SELECT * FROM gatehouse_webhooks WHERE id = ${id}`.pipe(
      Effect.flatMap(decodeWebhooks),
      Effect.map((rows) => rows[0])
    )

  const updateWebhook: Webhooks["updateWebhook"] = (id, update) =>
    sql`UPDATE gatehouse_webhooks SET updated_at = ${update.now}
        ${update.enabled === undefined ? sql`` : sql`, enabled = ${update.enabled ? 1 : 0}`}
        ${update.secrets === undefined ? sql`` : sql`, secrets = ${JSON.stringify(update.secrets)}`}
      WHERE id = ${id} RETURNING id`.pipe(Effect.map((rows) => rows.length > 0))

  /** Removes a subscription with its deliveries and their attempts. */
  const deleteWebhook = (id: string): Effect.Effect<boolean, SqlError> =>
    Effect.gen(function*() {
      yield* sql`DELETE FROM gatehouse_webhook_attempts WHERE delivery_seq IN
        (SELECT seq FROM gatehouse_webhook_deliveries WHERE webhook_id = ${id})`
      yield* sql`DELETE FROM gatehouse_webhook_deliveries WHERE webhook_id = ${id}`
      const rows = yield* sql`DELETE FROM gatehouse_webhooks WHERE id = ${id} RETURNING id`
      return rows.length > 0
    }).pipe(sql.withTransaction)

  /**
   * One fan-out round, in one transaction: takes the cursor (skipped when another process holds it), reads
   * the next events after it, lets `plan` turn them into deliveries, inserts those and moves the cursor past
   * every event read. Returns how many events were read (0: nothing new, or another process is at it).
   */
  const fanOut: Webhooks["fanOut"] = (limit, plan) =>
    Effect.gen(function*() {
      const cursor = yield* sql<{ tx: number | string; seq: number | string }>`SELECT tx, seq
        FROM gatehouse_webhook_cursor WHERE id = 1 ${forUpdate(sql, "SKIP LOCKED")}`
      if (cursor.length === 0) return 0
      const events = yield* readEvents(sql, { after: [Number(cursor[0].tx), Number(cursor[0].seq)], limit })
      if (events.length === 0) return 0
      const runIds = [...new Set(events.flatMap((event) => (event.runId === undefined ? [] : [event.runId])))]
      const workflows = new Map<string, string>()
      if (runIds.length > 0) {
        const rows = yield* sql<{ id: string; workflow: string }>`SELECT id, workflow FROM gatehouse_runs
          WHERE id IN ${sql.in(runIds)}`
        for (const row of rows) workflows.set(row.id, row.workflow)
      }
      const withWorkflow = events.map((event) => ({
        ...event,
        workflow: event.runId === undefined ? undefined : workflows.get(event.runId)
      }))
      const deliveries = yield* plan(withWorkflow, (runId, nodeId) =>
        sql`SELECT title, summary, metadata, request_hash, revision, status, deadline, reviewers
          FROM gatehouse_approvals WHERE run_id = ${runId} AND node_id = ${nodeId}`.pipe(
          Effect.flatMap(decodeApprovalContext),
          Effect.map((rows) => rows[0])
        ))
      // One statement per 200 deliveries, in fan-out order (their `seq` is the outbox order).
      for (let i = 0; i < deliveries.length; i += 200) {
        const rows = deliveries.slice(i, i + 200).map((delivery) => ({
          id: delivery.id,
          webhook_id: delivery.webhookId,
          event_tx: delivery.event.tx,
          event_seq: delivery.event.seq,
          run_id: delivery.event.runId ?? null,
          type: delivery.event.type,
          body: delivery.body,
          status: "pending",
          next_attempt_at: delivery.now,
          retry_from: delivery.now,
          created_at: delivery.now,
          updated_at: delivery.now
        }))
        yield* sql`INSERT INTO gatehouse_webhook_deliveries ${sql.insert(rows)} ON CONFLICT DO NOTHING`
      }
      const last = events[events.length - 1]
      yield* sql`UPDATE gatehouse_webhook_cursor SET tx = ${last.tx}, seq = ${last.seq} WHERE id = 1`
      return events.length
    }).pipe(sql.withTransaction)

  const insertDelivery: Webhooks["insertDelivery"] = (row) =>
    sql`INSERT INTO gatehouse_webhook_deliveries (id, webhook_id, event_tx, event_seq, run_id, type, body, status,
        next_attempt_at, retry_from, created_at, updated_at)
      VALUES (${row.id}, ${row.webhookId}, ${row.eventTx ?? null}, ${row.eventSeq ?? null}, ${row.runId ?? null},
        ${row.type}, ${row.body}, 'pending', ${row.now}, ${row.now}, ${row.now}, ${row.now})
      ON CONFLICT DO NOTHING`.pipe(Effect.asVoid)

  /**
   * Claims up to `limit` due deliveries: pending ones whose time has come and ones whose claimer's lease
   * expired (it died mid-delivery). A delivery waits while an earlier one of the same subscription and run
   * is still pending or in flight, so each endpoint sees a run's events in order. Each claim counts as an
   * attempt, so an attempt cut short by a crash is counted too.
   */
  const claim: Webhooks["claim"] = (options) => {
    const candidates = sql`SELECT d.seq FROM gatehouse_webhook_deliveries d
      WHERE ((d.status = 'pending' AND d.next_attempt_at <= ${options.now})
        OR (d.status = 'delivering' AND d.lease_expires_at < ${leaseNow(sql, options.now)}))
      AND NOT EXISTS (SELECT 1 FROM gatehouse_webhook_deliveries e
        WHERE e.webhook_id = d.webhook_id AND e.run_id = d.run_id AND e.seq < d.seq
        AND e.status IN ('pending', 'delivering'))
      ORDER BY d.seq LIMIT ${options.limit} ${
      sql.onDialectOrElse({ pg: () => sql.literal("FOR UPDATE OF d SKIP LOCKED"), orElse: () => sql.literal("") })
    }`
    return sql`UPDATE gatehouse_webhook_deliveries SET status = 'delivering', lease_owner = ${options.owner},
        lease_expires_at = ${leaseNow(sql, options.now)} + ${options.leaseMillis}, attempts = attempts + 1,
        updated_at = ${options.now}
      WHERE seq IN (${candidates}) RETURNING *`.pipe(
      Effect.flatMap(decodeDeliveries),
      Effect.map((rows) => [...rows].sort((a, b) => a.seq - b.seq))
    )
  }

  /**
   * Records an attempt and the delivery's next state, fenced on the claim: a claimer whose lease expired
   * and was taken over writes nothing (the attempt of the new claimer is the one that counts).
   */
  const finishAttempt: Webhooks["finishAttempt"] = (options) =>
    Effect.gen(function*() {
      const status = options.next._tag === "Delivered" ? "delivered" : options.next._tag === "Retry" ? "pending" : "dead"
      const nextAt = options.next._tag === "Retry" ? options.next.at : options.now
      const updated = yield* sql`UPDATE gatehouse_webhook_deliveries SET status = ${status},
          next_attempt_at = ${nextAt}, lease_owner = NULL, lease_expires_at = NULL,
          last_status = ${options.statusCode ?? null}, last_error = ${options.error ?? null},
          updated_at = ${options.now},
          delivered_at = ${options.next._tag === "Delivered" ? options.now : null}
        WHERE seq = ${options.seq} AND lease_owner = ${options.owner} AND status = 'delivering'
          AND attempts = ${options.attempt}
        RETURNING seq`
      if (updated.length === 0) return false
      yield* sql`INSERT INTO gatehouse_webhook_attempts (delivery_seq, attempt, started_at, status_code, latency_ms,
          error, response)
        VALUES (${options.seq}, ${options.attempt}, ${options.startedAt}, ${options.statusCode ?? null},
          ${options.latencyMs}, ${options.error ?? null}, ${options.response ?? null})
        ON CONFLICT DO NOTHING`
      return true
    }).pipe(sql.withTransaction)

  const listDeliveries: Webhooks["listDeliveries"] = (options) => {
    const conditions = [
      options.webhookId !== undefined ? sql`webhook_id = ${options.webhookId}` : undefined,
      options.status !== undefined ? sql`status = ${options.status}` : undefined,
      options.runId !== undefined ? sql`run_id = ${options.runId}` : undefined,
      options.afterSeq !== undefined ? sql`seq > ${options.afterSeq}` : undefined
    ].filter((c) => c !== undefined)
    return sql`SELECT * FROM gatehouse_webhook_deliveries
      ${conditions.length === 0 ? sql`` : sql`WHERE ${sql.and(conditions)}`}
      ORDER BY seq LIMIT ${options.limit}`.pipe(Effect.flatMap(decodeDeliveries))
  }

  const getDelivery = (id: string): Effect.Effect<DeliveryRow | undefined, SqlError> =>
    sql`SELECT * FROM gatehouse_webhook_deliveries WHERE id = ${id}`.pipe(
      Effect.flatMap(decodeDeliveries),
      Effect.map((rows) => rows[0])
    )

  const attemptsOf = (seq: number): Effect.Effect<ReadonlyArray<AttemptRow>, SqlError> =>
    sql`SELECT * FROM gatehouse_webhook_attempts WHERE delivery_seq = ${seq} ORDER BY attempt`.pipe(
      Effect.flatMap(decodeAttempts)
    )

  /** Makes a delivery due now, with a fresh retry horizon; one in flight is left to finish. */
  const redeliver = (id: string, now: number): Effect.Effect<boolean, SqlError> =>
    sql`UPDATE gatehouse_webhook_deliveries SET status = 'pending', next_attempt_at = ${now}, retry_from = ${now},
        updated_at = ${now}, delivered_at = NULL
      WHERE id = ${id} AND status <> 'delivering' RETURNING seq`.pipe(Effect.map((rows) => rows.length > 0))

  /** Deletes delivered and dead deliveries last changed before `before`, with their attempts. */
  const prune = (before: number): Effect.Effect<number, SqlError> =>
    Effect.gen(function*() {
      const finished = sql`SELECT seq FROM gatehouse_webhook_deliveries
        WHERE status IN ('delivered', 'dead') AND updated_at < ${before}`
      yield* sql`DELETE FROM gatehouse_webhook_attempts WHERE delivery_seq IN (${finished})`
      const rows = yield* sql`DELETE FROM gatehouse_webhook_deliveries
        WHERE status IN ('delivered', 'dead') AND updated_at < ${before} RETURNING seq`
      return rows.length
    }).pipe(sql.withTransaction)

  return {
    prune,
    insertWebhook,
    listWebhooks,
    getWebhook,
    updateWebhook,
    deleteWebhook,
    fanOut,
    insertDelivery,
    claim,
    finishAttempt,
    listDeliveries,
    getDelivery,
    attemptsOf,
    redeliver
  }
}

/** @internal */
export type WebhookStore = ReturnType<typeof makeWebhookStore>
