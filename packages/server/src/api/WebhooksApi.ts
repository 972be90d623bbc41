/**
 * The webhooks group: subscriptions (the signing secret is returned by create and rotate only), their
 * deliveries with each attempt, redelivery by hand and a test message. Operators only.
 *
 * @since 0.1.0
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Webhooks } from "@gatehouse/engine"
import * as Schema from "effect/Schema"
import { Authentication } from "../Authentication.js"
import { PathSegment } from "../internal/pathSegment.js"
import { BadRequest, Forbidden, StorageUnavailable } from "./Errors.js"

const webhookId = HttpApiSchema.param("webhookId", PathSegment)
const deliveryId = HttpApiSchema.param("deliveryId", PathSegment)

/**
 * A subscription and its signing secret, shown this once.
 *
 * @since 0.1.0
 * @category models
 */
export const Created = Schema.Struct({
  subscription: Webhooks.Subscription,
  /** `whsec_…`: give it to the receiver now; it is never returned again. */
  secret: Schema.String
}).annotations({ identifier: "CreatedWebhook" })

/**
 * @since 0.1.0
 * @category models
 */
export const UpdateBody = Schema.Struct({ enabled: Schema.Boolean }).annotations({ identifier: "UpdateWebhook" })

/**
 * @since 0.1.0
 * @category models
 */
export const RotateBody = Schema.Struct({
  /** How long the previous secrets keep signing, e.g. "1 day" (the default). */
  overlap: Schema.optional(Schema.String.pipe(Schema.maxLength(50)))
}).annotations({ identifier: "RotateWebhookSecret" })

/**
 * @since 0.1.0
 * @category models
 */
export const Secret = Schema.Struct({ secret: Schema.String }).annotations({ identifier: "WebhookSecret" })

/**
 * A delivery on the wire: the engine's `Delivery` with the message body decoded as a `WebhookEvent`, the
 * schema of what every receiver gets.
 *
 * @since 0.1.0
 * @category models
 */
export const Delivery = Schema.Struct({
  ...Webhooks.Delivery.fields,
  event: Webhooks.WebhookEvent
}).annotations({ identifier: "WebhookDelivery" })

/**
 * @since 0.1.0
 * @category models
 */
export const DeliveryPage = Schema.Struct({
  deliveries: Schema.Array(Delivery),
  cursor: Schema.optional(Schema.String)
}).annotations({ identifier: "WebhookDeliveryPage" })

/**
 * @since 0.1.0
 * @category models
 */
export const DeliveryParams = Schema.Struct({
  webhookId: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  status: Schema.optional(Webhooks.DeliveryStatus),
  runId: Schema.optional(Schema.String.pipe(Schema.maxLength(1000))),
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(100))),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)))
})

/**
 * @since 0.1.0
 * @category groups
 */
export class WebhooksApi extends HttpApiGroup.make("webhooks")
  .add(
    HttpApiEndpoint.post("create", "/v1/webhooks")
      .setPayload(Webhooks.CreateInput)
      .addSuccess(Created, { status: 201 })
      .addError(Webhooks.InvalidWebhook, { status: 400 })
      .addError(Webhooks.DestinationNotAllowed, { status: 422 })
      .annotate(OpenApi.Summary, "Subscribe a URL to events; the signing secret is in this response only")
      .annotate(
        OpenApi.Description,
        "A chat subscription's reviewer is an id of the deployment's directory of people; reviewer.roles is " +
          "refused (400): roles come from the directory, never from a request. Audited with the operator's id."
      )
  )
  .add(
    HttpApiEndpoint.get("list", "/v1/webhooks")
      .addSuccess(Schema.Array(Webhooks.Subscription))
      .annotate(OpenApi.Summary, "Every subscription, without secrets")
  )
  .add(
    HttpApiEndpoint.get("get")`/v1/webhooks/${webhookId}`
      .addSuccess(Webhooks.Subscription)
      .addError(Webhooks.WebhookNotFound, { status: 404 })
  )
  .add(
    HttpApiEndpoint.patch("update")`/v1/webhooks/${webhookId}`
      .setPayload(UpdateBody)
      .addSuccess(Webhooks.Subscription)
      .addError(Webhooks.WebhookNotFound, { status: 404 })
      .annotate(OpenApi.Summary, "Enable or disable a subscription")
  )
  .add(
    HttpApiEndpoint.del("remove")`/v1/webhooks/${webhookId}`
      .addSuccess(HttpApiSchema.NoContent)
      .addError(Webhooks.WebhookNotFound, { status: 404 })
      .annotate(OpenApi.Summary, "Remove a subscription with its deliveries")
  )
  .add(
    HttpApiEndpoint.post("rotateSecret")`/v1/webhooks/${webhookId}/rotate-secret`
      .setPayload(RotateBody)
      .addSuccess(Secret)
      .addError(Webhooks.WebhookNotFound, { status: 404 })
      .addError(Webhooks.InvalidWebhook, { status: 400 })
      .annotate(OpenApi.Summary, "A new signing secret; the previous ones sign too until the overlap ends")
  )
  .add(
    HttpApiEndpoint.post("test")`/v1/webhooks/${webhookId}/test`
      .addSuccess(Delivery, { status: 202 })
      .addError(Webhooks.WebhookNotFound, { status: 404 })
      .annotate(OpenApi.Summary, "Queue a webhook.test message to the subscription")
  )
  .add(
    HttpApiEndpoint.get("deliveries", "/v1/webhook-deliveries")
      .setUrlParams(DeliveryParams)
      .addSuccess(DeliveryPage)
      .addError(Webhooks.InvalidWebhook, { status: 400 })
      .annotate(OpenApi.Summary, "Deliveries in outbox order, by subscription, status (dead: the dead letters) or run")
  )
  .add(
    HttpApiEndpoint.get("delivery")`/v1/webhook-deliveries/${deliveryId}`
      .addSuccess(Delivery)
      .addError(Webhooks.DeliveryNotFound, { status: 404 })
      .annotate(OpenApi.Summary, "One delivery with every attempt (status code, latency, error, response prefix)")
  )
  .add(
    HttpApiEndpoint.post("redeliver")`/v1/webhook-deliveries/${deliveryId}/redeliver`
      .addSuccess(Delivery, { status: 202 })
      .addError(Webhooks.DeliveryNotFound, { status: 404 })
      .annotate(OpenApi.Summary, "Send a delivered or dead-lettered message again, with a fresh retry horizon")
  )
  .addError(Forbidden)
  .addError(BadRequest)
  .addError(StorageUnavailable)
  .middleware(Authentication)
  .annotate(OpenApi.Description, "Signed webhooks (Standard Webhooks) from the events outbox")
{}
