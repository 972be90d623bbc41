/**
 * Webhook subscriptions and their deliveries. A subscription names a URL, the event types and workflows it
 * wants, and a signing secret returned only when created (or rotated). The `WebhookDispatcher` fans the
 * events outbox out into one delivery per (subscription, event) and delivers them signed per the Standard
 * Webhooks specification, at least once, in order per run, retried with backoff and dead-lettered after a
 * horizon; a delivery can be sent again by hand.
 *
 * @example
 * ```ts
 * import { Webhooks } from "@gatehouse/engine"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const webhooks = yield* Webhooks.Webhooks
 *   const { subscription, secret } = yield* webhooks.create({
 *     url: "https://hooks.example.com/gatehouse",
 *     eventTypes: ["approval.requested", "approval.reminder"],
 *     workflows: ["refund-review"]
 *   })
 *   // give `secret` to the receiver now: it is never returned again
 * })
 * ```
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Storage from "./internal/storage.js"
import * as Internal from "./internal/webhooks/make.js"
import type { StorageError } from "./StorageError.js"

/**
 * The destination hosts webhooks may be sent to (`"hooks.example.com"`, `"*.example.com"`, `"127.0.0.1"`).
 * Unset, any host is allowed except the local machine's and private networks' names and addresses
 * (`localhost`, `localhost.`, `127.0.0.1`, `[::1]`, `[::ffff:127.0.0.1]`, `10.x`, `192.168.x`, …). Checked
 * when a subscription is created and again before each delivery, where the host is also resolved: every
 * address it resolves to must be public, unless this list names the host exactly (not by a wildcard), and
 * the delivery connects to the address checked.
 *
 * @since 0.1.0
 * @category config
 */
export class AllowedHosts extends Context.Reference<AllowedHosts>()("@gatehouse/engine/Webhooks/AllowedHosts", {
  defaultValue: (): ReadonlyArray<string> | undefined => undefined
}) {}

/**
 * @since 0.1.0
 * @category layers
 */
export const layerAllowedHosts = (hosts: ReadonlyArray<string>): Layer.Layer<never> =>
  Layer.succeed(AllowedHosts, hosts)

/**
 * The key signing secrets are sealed with at rest (AES-256-GCM): 32 bytes. Signing needs the raw secret,
 * so it cannot be stored as a hash; with a key, a copy of the database alone does not give the secrets.
 * Unset, secrets are stored as given (still never returned, printed or logged). Every process that creates
 * subscriptions or delivers needs the same key.
 *
 * @since 0.1.0
 * @category config
 */
export class SecretKey extends Context.Reference<SecretKey>()("@gatehouse/engine/Webhooks/SecretKey", {
  defaultValue: (): Redacted.Redacted<Uint8Array> | undefined => undefined
}) {}

const decodeKey = (key: string): Uint8Array | undefined => {
  const bytes = Buffer.from(key.trim(), "base64")
  return bytes.length === 32 ? new Uint8Array(bytes) : undefined
}

/**
 * The sealing key from its base64 form (32 bytes, e.g. `openssl rand -base64 32`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSecretKey = (key: Redacted.Redacted<string>): Layer.Layer<never, ConfigError.ConfigError> => {
  const bytes = decodeKey(Redacted.value(key))
  return bytes === undefined
    ? Layer.fail(ConfigError.InvalidData(["secretKey"], "the webhook secret key must be 32 bytes in base64"))
    : Layer.succeed(SecretKey, Redacted.make(bytes))
}

/**
 * The allow-list and the sealing key from `GATEHOUSE_WEBHOOK_ALLOWED_HOSTS` (comma-separated hosts) and
 * `GATEHOUSE_WEBHOOK_SECRET_KEY` (32 bytes in base64), each optional.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const hosts = yield* Config.option(Config.string("GATEHOUSE_WEBHOOK_ALLOWED_HOSTS"))
    const key = yield* Config.option(Config.redacted("GATEHOUSE_WEBHOOK_SECRET_KEY"))
    const allowed = Option.map(hosts, (list) => list.split(",").map((host) => host.trim()).filter((h) => h !== ""))
    return Layer.mergeAll(
      Option.isSome(allowed) ? layerAllowedHosts(allowed.value) : Layer.empty,
      Option.isSome(key) ? layerSecretKey(key.value) : Layer.empty
    )
  })
)

/**
 * A subscription as stored, without its secret.
 *
 * @since 0.1.0
 * @category models
 */
export class Subscription extends Schema.Class<Subscription>("@gatehouse/engine/Webhooks/Subscription")({
  id: Schema.String,
  url: Schema.String,
  description: Schema.optional(Schema.String),
  /** The event types it wants (`"approval.requested"`, `"approval.*"`); absent: every type. */
  eventTypes: Schema.optional(Schema.Array(Schema.String)),
  /** The workflows whose events it wants; absent: every workflow's (and events of no run). */
  workflows: Schema.optional(Schema.Array(Schema.String)),
  enabled: Schema.Boolean,
  maxConcurrency: Schema.Number,
  /** `standard`: the event as JSON; `slack`: a chat message about an approval (`SlackMessage`). */
  format: Schema.Literal("standard", "slack"),
  /**
   * For a chat message to a person: the id, in the deployment's `Directory`, of whom the one-click links are
   * minted for (with the roles the directory gives them, while they are among an approval's reviewers, and
   * only when this subscription's URL is one of that person's `chatWebhooks`: "Open in inbox" otherwise).
   */
  reviewer: Schema.optional(Schema.Struct({ id: Schema.String })),
  /** How many signing secrets are in use (more than one during a rotation). */
  secrets: Schema.Number,
  createdAt: Schema.Number,
  updatedAt: Schema.Number
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export const DeliveryStatus = Schema.Literal("pending", "delivering", "delivered", "dead")

/**
 * One attempt to deliver a message.
 *
 * @since 0.1.0
 * @category models
 */
export class Attempt extends Schema.Class<Attempt>("@gatehouse/engine/Webhooks/Attempt")({
  attempt: Schema.Number,
  startedAt: Schema.Number,
  statusCode: Schema.optional(Schema.Number),
  latencyMs: Schema.Number,
  error: Schema.optional(Schema.String),
  /** The first bytes of the response body. */
  response: Schema.optional(Schema.String)
}) {}

/**
 * A message to one subscription: its `webhook-id`, the event, and where its delivery stands.
 *
 * @since 0.1.0
 * @category models
 */
export class Delivery extends Schema.Class<Delivery>("@gatehouse/engine/Webhooks/Delivery")({
  /** The `webhook-id` header: the same on every attempt, so receivers drop duplicates. */
  id: Schema.String,
  webhookId: Schema.String,
  runId: Schema.optional(Schema.String),
  type: Schema.String,
  status: DeliveryStatus,
  attempts: Schema.Number,
  nextAttemptAt: Schema.Number,
  lastStatus: Schema.optional(Schema.Number),
  lastError: Schema.optional(Schema.String),
  createdAt: Schema.Number,
  deliveredAt: Schema.optional(Schema.Number),
  /** The JSON body sent (a `WebhookEvent`). */
  body: Schema.String,
  /** Each recorded attempt, oldest first (only from `getDelivery`). */
  history: Schema.optional(Schema.Array(Attempt))
}) {}

/**
 * The approval an event is about, as it stood when the event was fanned out.
 *
 * @since 0.1.0
 * @category models
 */
export const ApprovalContext = Schema.Struct({
  title: Schema.String,
  summary: Schema.optional(Schema.String),
  metadata: Schema.optional(Schema.Unknown),
  requestHash: Schema.String,
  revision: Schema.Number,
  status: Schema.String,
  deadline: Schema.optional(Schema.Number),
  reviewers: Schema.Unknown
}).annotations({ identifier: "WebhookApprovalContext" })

/**
 * The JSON body of every webhook (Standard Webhooks' `type`, `timestamp`, `data` envelope). `data.event`
 * is the outbox position, the same for every subscription; `data.details` the event's own data (a
 * decision for `approval.decided`, the reminder's number for `approval.reminder`, …).
 *
 * @since 0.1.0
 * @category models
 */
export const WebhookEvent = Schema.Struct({
  type: Schema.String,
  timestamp: Schema.String,
  data: Schema.Struct({
    event: Schema.optional(Schema.String),
    runId: Schema.optional(Schema.String),
    nodeId: Schema.optional(Schema.String),
    workflow: Schema.optional(Schema.String),
    actor: Schema.optional(Schema.String),
    createdAt: Schema.Number,
    details: Schema.optional(Schema.Unknown),
    approval: Schema.optional(ApprovalContext)
  })
}).annotations({ identifier: "WebhookEvent" })

/**
 * @since 0.1.0
 * @category models
 */
export type WebhookEvent = typeof WebhookEvent.Type

const EventType = Schema.String.pipe(
  Schema.pattern(/^(\*|[a-z][a-z0-9-]*(\.[a-z0-9-]+)*(\.\*)?)$/),
  Schema.maxLength(100)
).annotations({ description: "an event type such as approval.requested, or approval.* for a family" })

/**
 * What `create` accepts.
 *
 * @since 0.1.0
 * @category models
 */
export const CreateInput = Schema.Struct({
  url: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(2048)),
  description: Schema.optional(Schema.String.pipe(Schema.maxLength(500))),
  eventTypes: Schema.optional(Schema.Array(EventType).pipe(Schema.minItems(1), Schema.maxItems(50))),
  workflows: Schema.optional(
    Schema.Array(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200))).pipe(
      Schema.minItems(1),
      Schema.maxItems(50)
    )
  ),
  enabled: Schema.optional(Schema.Boolean),
  maxConcurrency: Schema.optional(Schema.Int.pipe(Schema.between(1, 64))),
  /** `slack`: Slack-compatible chat messages (incoming-webhook JSON) about approvals instead of the event. */
  format: Schema.optional(Schema.Literal("standard", "slack")),
  /**
   * With `format: "slack"` to a person: the id of a person in the deployment's `Directory`, whose Approve /
   * Deny links the messages carry while they are among an approval's reviewers. `roles` is refused: roles
   * come from the directory, never from the request (kept in the schema only to name it in the error).
   */
  reviewer: Schema.optional(Schema.Struct({
    id: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)),
    roles: Schema.optional(Schema.Array(Schema.String.pipe(Schema.maxLength(100))).pipe(Schema.maxItems(50)))
  }))
}).annotations({ identifier: "CreateWebhook" })

/**
 * @since 0.1.0
 * @category models
 */
export type CreateInput = typeof CreateInput.Encoded

/**
 * What `deliveries` accepts.
 *
 * @since 0.1.0
 * @category models
 */
export const DeliveriesQuery = Schema.Struct({
  webhookId: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  status: Schema.optional(DeliveryStatus),
  runId: Schema.optional(Schema.String.pipe(Schema.maxLength(1000))),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 1000))),
  cursor: Schema.optional(Schema.String.pipe(Schema.pattern(/^\d{1,15}$/)).annotations({
    message: () => "not a cursor this API returned"
  }))
})

/**
 * The input of a webhook call is malformed; `field` names the part that is wrong.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidWebhook extends Schema.TaggedError<InvalidWebhook>("@gatehouse/engine/InvalidWebhook")(
  "InvalidWebhook",
  { field: Schema.String, reason: Schema.String }
) {
  override get message(): string {
    return `Invalid webhook input at ${this.field}: ${this.reason}`
  }
}

/**
 * The destination is not an http(s) URL to an allowed host.
 *
 * @since 0.1.0
 * @category errors
 */
export class DestinationNotAllowed extends Schema.TaggedError<DestinationNotAllowed>(
  "@gatehouse/engine/DestinationNotAllowed"
)("DestinationNotAllowed", { url: Schema.String, host: Schema.String, reason: Schema.String }) {
  override get message(): string {
    return `Webhook destination refused (${this.url}): ${this.reason}`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export class WebhookNotFound extends Schema.TaggedError<WebhookNotFound>("@gatehouse/engine/WebhookNotFound")(
  "WebhookNotFound",
  { webhookId: Schema.String }
) {
  override get message(): string {
    return `No webhook subscription ${this.webhookId}`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export class DeliveryNotFound extends Schema.TaggedError<DeliveryNotFound>("@gatehouse/engine/DeliveryNotFound")(
  "DeliveryNotFound",
  { deliveryId: Schema.String }
) {
  override get message(): string {
    return `No webhook delivery ${this.deliveryId}`
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Webhooks extends Context.Tag("@gatehouse/engine/Webhooks")<Webhooks, {
  /**
   * Stores a subscription; the secret is returned here and never again. `by` (who creates it: the
   * authenticated principal) is recorded in the audit chain with the subscription.
   */
  readonly create: (
    input: CreateInput,
    options?: { readonly by?: string | undefined }
  ) => Effect.Effect<
    { readonly subscription: Subscription; readonly secret: string },
    InvalidWebhook | DestinationNotAllowed | StorageError
  >
  readonly list: Effect.Effect<ReadonlyArray<Subscription>, StorageError>
  readonly get: (webhookId: string) => Effect.Effect<Subscription, WebhookNotFound | StorageError>
  readonly setEnabled: (webhookId: string, enabled: boolean) => Effect.Effect<Subscription, WebhookNotFound | StorageError>
  /** Removes a subscription with its deliveries. */
  readonly remove: (webhookId: string) => Effect.Effect<void, WebhookNotFound | StorageError>
  /**
   * A new secret signs from now on; the previous ones keep signing too (several signatures per message)
   * until `overlap` has passed (default 1 day), so receivers switch over without losing a message.
   */
  readonly rotateSecret: (
    webhookId: string,
    options?: { readonly overlap?: Duration.DurationInput | undefined }
  ) => Effect.Effect<{ readonly secret: string }, WebhookNotFound | InvalidWebhook | StorageError>
  /** Queues a `webhook.test` message to one subscription, delivered like any other. */
  readonly sendTest: (webhookId: string) => Effect.Effect<Delivery, WebhookNotFound | StorageError>
  readonly deliveries: (options?: {
    readonly webhookId?: string | undefined
    readonly status?: typeof DeliveryStatus.Type | undefined
    readonly runId?: string | undefined
    readonly limit?: number | undefined
    readonly cursor?: string | undefined
  }) => Effect.Effect<{ readonly deliveries: ReadonlyArray<Delivery>; readonly cursor?: string }, InvalidWebhook | StorageError>
  /** One delivery with its attempts. */
  readonly getDelivery: (deliveryId: string) => Effect.Effect<Delivery, DeliveryNotFound | StorageError>
  /** Sends a delivered or dead-lettered message again, now, with a fresh retry horizon. */
  readonly redeliver: (deliveryId: string) => Effect.Effect<Delivery, DeliveryNotFound | StorageError>
  /**
   * Deletes the delivered and dead-lettered deliveries (with their attempts) last changed more than
   * `olderThan` ago; pending ones are never pruned. Returns how many were deleted.
   */
  readonly prune: (options: {
    readonly olderThan: Duration.DurationInput
  }) => Effect.Effect<number, InvalidWebhook | StorageError>
}>() {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Webhooks["Type"], never, SqlClient.SqlClient> = Effect.suspend(() =>
  Effect.provide(Internal.make, Storage.layer)
)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Webhooks, never, SqlClient.SqlClient> = Layer.effect(Webhooks, make)
