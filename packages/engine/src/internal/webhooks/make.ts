/**
 * The implementation of the `Webhooks` service (`Webhooks.make`): subscriptions, deliveries and their
 * attempts, on `Storage`.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import * as Directory from "../../Directory.js"
import {
  AllowedHosts,
  Attempt,
  CreateInput,
  DeliveriesQuery,
  DeliveryStatus,
  Delivery,
  DeliveryNotFound,
  DestinationNotAllowed,
  InvalidWebhook,
  SecretKey,
  Subscription,
  WebhookEvent,
  WebhookNotFound,
  Webhooks
} from "../../Webhooks.js"
import * as Storage from "../storage.js"
import type { DeliveryRow, WebhookRow } from "../storage/webhooks.js"
import { mapStorage } from "../storageError.js"
import { destinationProblem, newMessageId, newSecret, sealSecret } from "../webhookPolicy.js"

const toSubscription = (row: WebhookRow): Subscription =>
  new Subscription({
    id: row.id,
    url: row.url,
    ...(row.description !== undefined ? { description: row.description } : {}),
    ...(row.eventTypes !== undefined ? { eventTypes: row.eventTypes } : {}),
    ...(row.workflows !== undefined ? { workflows: row.workflows } : {}),
    enabled: row.enabled,
    maxConcurrency: row.maxConcurrency,
    format: row.format,
    ...(row.reviewer !== undefined ? { reviewer: { id: row.reviewer.id } } : {}),
    secrets: row.secrets.length,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt
  })

const toDelivery = (row: DeliveryRow, history?: ReadonlyArray<Attempt>): Delivery =>
  new Delivery({
    id: row.id,
    webhookId: row.webhookId,
    ...(row.runId !== undefined ? { runId: row.runId } : {}),
    type: row.type,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.nextAttemptAt,
    ...(row.lastStatus !== undefined ? { lastStatus: row.lastStatus } : {}),
    ...(row.lastError !== undefined ? { lastError: row.lastError } : {}),
    createdAt: row.createdAt,
    ...(row.deliveredAt !== undefined ? { deliveredAt: row.deliveredAt } : {}),
    body: row.body,
    ...(history !== undefined ? { history } : {})
  })

const invalid = (error: ParseResult.ParseError): InvalidWebhook => {
  const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  return new InvalidWebhook({
    field: issue === undefined || issue.path.length === 0 ? "input" : issue.path.join("."),
    reason: issue?.message ?? error.message
  })
}

/**
 * The `Webhooks` service on `Storage`.
 *
 * @internal
 */
export const make: Effect.Effect<Webhooks["Type"], never, Storage.Storage> = Effect.gen(function*() {
  const storage = yield* Storage.Storage
  const store = storage.webhooks

  const find = (webhookId: string) =>
    Effect.flatMap(store.getWebhook(webhookId), (row) =>
      row === undefined ? Effect.fail(new WebhookNotFound({ webhookId })) : Effect.succeed(row))

  const create = (input: CreateInput, options: { readonly by?: string | undefined } = {}) =>
    Effect.gen(function*() {
      const valid = yield* Schema.decodeUnknown(CreateInput)(input, { onExcessProperty: "error" }).pipe(
        Effect.mapError(invalid)
      )
      if (valid.reviewer !== undefined && valid.format !== "slack") {
        return yield* new InvalidWebhook({ field: "reviewer", reason: "only chat messages (format: slack) carry links" })
      }
      if (valid.reviewer?.roles !== undefined) {
        return yield* new InvalidWebhook({
          field: "reviewer.roles",
          reason: "roles cannot be given: a reviewer's roles come from the deployment's directory of people"
        })
      }
      if (valid.reviewer !== undefined) {
        const directory = yield* Directory.Directory
        if (Option.isNone(yield* directory.find(valid.reviewer.id))) {
          return yield* new InvalidWebhook({
            field: "reviewer.id",
            reason: `${valid.reviewer.id} is not in the deployment's directory of people (GATEHOUSE_DIRECTORY)`
          })
        }
      }
      const allowed = yield* AllowedHosts
      const problem = destinationProblem(valid.url, allowed)
      if (problem !== undefined) {
        return yield* new DestinationNotAllowed({ url: valid.url, host: problem.host, reason: problem.reason })
      }
      const now = yield* Clock.currentTimeMillis
      const id = `wh_${randomUUID().replaceAll("-", "")}`
      const secret = newSecret()
      const key = yield* SecretKey
      const format = valid.format ?? "standard"
      yield* Effect.all([
        store.insertWebhook({
          id,
          url: valid.url,
          description: valid.description,
          eventTypes: valid.eventTypes,
          workflows: valid.workflows,
          secrets: [{ secret: sealSecret(secret, key === undefined ? undefined : Redacted.value(key)) }],
          enabled: valid.enabled ?? true,
          maxConcurrency: valid.maxConcurrency ?? 4,
          format,
          reviewer: valid.reviewer === undefined ? undefined : { id: valid.reviewer.id },
          now
        }),
        storage.audit.append({
          runId: undefined,
          action: "webhook.created",
          actor: options.by ?? "unknown",
          data: {
            webhookId: id,
            // The host only: a chat webhook's URL is itself a secret.
            host: new URL(valid.url).host,
            format,
            reviewer: valid.reviewer?.id ?? null,
            eventTypes: valid.eventTypes ?? null,
            workflows: valid.workflows ?? null
          },
          now
        })
      ], { discard: true }).pipe(storage.transaction)
      const subscription = toSubscription(yield* find(id).pipe(Effect.orDie))
      return { subscription, secret }
    }).pipe(mapStorage("Webhooks.create"))

  const list = store.listWebhooks.pipe(Effect.map((rows) => rows.map(toSubscription)), mapStorage("Webhooks.list"))

  const get = (webhookId: string) => find(webhookId).pipe(Effect.map(toSubscription), mapStorage("Webhooks.get"))

  const setEnabled = (webhookId: string, enabled: boolean) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const updated = yield* store.updateWebhook(webhookId, { enabled, now })
      if (!updated) return yield* new WebhookNotFound({ webhookId })
      return toSubscription(yield* find(webhookId))
    }).pipe(mapStorage("Webhooks.setEnabled"))

  const remove = (webhookId: string) =>
    Effect.gen(function*() {
      const removed = yield* store.deleteWebhook(webhookId)
      if (!removed) return yield* new WebhookNotFound({ webhookId })
    }).pipe(mapStorage("Webhooks.remove"))

  const rotateSecret = (webhookId: string, options: { readonly overlap?: Duration.DurationInput | undefined } = {}) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const row = yield* find(webhookId)
      const overlap = Duration.decodeUnknown(options.overlap ?? "1 day")
      if (overlap._tag === "None" || !Duration.isFinite(overlap.value)) {
        return yield* new InvalidWebhook({ field: "overlap", reason: "not a finite duration such as \"1 day\"" })
      }
      const expiresAt = now + Duration.toMillis(overlap.value)
      const secret = newSecret()
      const previous = row.secrets
        .filter((s) => s.expiresAt === undefined || s.expiresAt > now)
        .map((s) => ({ secret: s.secret, expiresAt: Math.min(s.expiresAt ?? expiresAt, expiresAt) }))
      const key = yield* SecretKey
      const sealed = sealSecret(secret, key === undefined ? undefined : Redacted.value(key))
      yield* store.updateWebhook(webhookId, { secrets: [{ secret: sealed }, ...previous], now })
      return { secret }
    }).pipe(storage.transaction, mapStorage("Webhooks.rotateSecret"))

  const sendTest = (webhookId: string) =>
    Effect.gen(function*() {
      yield* find(webhookId)
      const now = yield* Clock.currentTimeMillis
      const id = newMessageId()
      const body = JSON.stringify({
        type: "webhook.test",
        timestamp: new Date(now).toISOString(),
        data: { createdAt: now, details: { webhookId } }
      } satisfies WebhookEvent)
      yield* store.insertDelivery({
        id,
        webhookId,
        eventTx: undefined,
        eventSeq: undefined,
        runId: undefined,
        type: "webhook.test",
        body,
        now
      })
      const row = yield* store.getDelivery(id)
      return toDelivery(row!)
    }).pipe(mapStorage("Webhooks.sendTest"))

  const deliveries = (
    options: {
      readonly webhookId?: string | undefined
      readonly status?: typeof DeliveryStatus.Type | undefined
      readonly runId?: string | undefined
      readonly limit?: number | undefined
      readonly cursor?: string | undefined
    } = {}
  ) =>
    Effect.gen(function*() {
      const valid = yield* Schema.decodeUnknown(DeliveriesQuery)(options, { onExcessProperty: "error" }).pipe(
        Effect.mapError(invalid)
      )
      const limit = valid.limit ?? 100
      const afterSeq = valid.cursor === undefined ? undefined : Number(valid.cursor)
      const rows = yield* store.listDeliveries({ ...valid, afterSeq, limit })
      const page = rows.map((row) => toDelivery(row))
      return rows.length === limit ? { deliveries: page, cursor: String(rows[rows.length - 1].seq) } : { deliveries: page }
    }).pipe(mapStorage("Webhooks.deliveries"))

  const getDelivery = (deliveryId: string) =>
    Effect.gen(function*() {
      const row = yield* store.getDelivery(deliveryId)
      if (row === undefined) return yield* new DeliveryNotFound({ deliveryId })
      const attempts = yield* store.attemptsOf(row.seq)
      return toDelivery(
        row,
        attempts.map((a) =>
          new Attempt({
            attempt: a.attempt,
            startedAt: a.startedAt,
            latencyMs: a.latencyMs,
            ...(a.statusCode !== undefined ? { statusCode: a.statusCode } : {}),
            ...(a.error !== undefined ? { error: a.error } : {}),
            ...(a.response !== undefined ? { response: a.response } : {})
          })
        )
      )
    }).pipe(mapStorage("Webhooks.getDelivery"))

  const redeliver = (deliveryId: string) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const row = yield* store.getDelivery(deliveryId)
      if (row === undefined) return yield* new DeliveryNotFound({ deliveryId })
      yield* store.redeliver(deliveryId, now)
      return toDelivery((yield* store.getDelivery(deliveryId))!)
    }).pipe(mapStorage("Webhooks.redeliver"))

  const prune = (options: { readonly olderThan: Duration.DurationInput }) =>
    Effect.gen(function*() {
      const olderThan = Duration.decodeUnknown(options.olderThan)
      if (olderThan._tag === "None" || !Duration.isFinite(olderThan.value)) {
        return yield* new InvalidWebhook({ field: "olderThan", reason: "not a finite duration such as \"30 days\"" })
      }
      const now = yield* Clock.currentTimeMillis
      return yield* store.prune(now - Duration.toMillis(olderThan.value))
    }).pipe(mapStorage("Webhooks.prune"))

  return Webhooks.of({
    prune,
    create,
    list,
    get,
    setEnabled,
    remove,
    rotateSecret,
    sendTest,
    deliveries,
    getDelivery,
    redeliver
  })
})

