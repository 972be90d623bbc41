/**
 * Handlers of the webhooks group, on the engine's `Webhooks` service. The
 * allow-list of destination hosts (`Webhooks.AllowedHosts`) and the key secrets are sealed with
 * (`Webhooks.SecretKey`) are the ones in force where this layer is built, and so is the `Directory` of
 * people a chat subscription's reviewer must be in. Creating a subscription is an operator's action and is
 * audited with the operator's id; it never gives anyone the power to decide (roles in the body are refused).
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
import { Directory, Webhooks } from "@gatehouse/engine"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { type Authentication, CurrentPrincipal } from "../Authentication.js"
import { GatehouseApi } from "../GatehouseApi.js"
import { requireOperator } from "../internal/access.js"
import { defined, storage } from "../internal/http.js"

const decodeEvent = Schema.decodeUnknownSync(Schema.parseJson(Webhooks.WebhookEvent))

const withEvent = (delivery: Webhooks.Delivery) => ({ ...delivery, event: decodeEvent(delivery.body) })

/**
 * @since 0.1.0
 * @category layers
 */
export const WebhooksLive: Layer.Layer<
  ApiGroup<"gatehouse", "webhooks">,
  never,
  Webhooks.Webhooks | Authentication
> = HttpApiBuilder.group(GatehouseApi, "webhooks", (handlers) =>
  Effect.gen(function*() {
    const webhooks = yield* Webhooks.Webhooks
    const allowedHosts = yield* Webhooks.AllowedHosts
    const secretKey = yield* Webhooks.SecretKey
    const directory = yield* Directory.Directory
    const operator = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.flatMap(CurrentPrincipal, requireOperator).pipe(
        Effect.zipRight(effect),
        Effect.provideService(Webhooks.AllowedHosts, allowedHosts),
        Effect.provideService(Webhooks.SecretKey, secretKey),
        Effect.provideService(Directory.Directory, directory),
        storage
      )
    return handlers
      .handle("create", ({ payload }) =>
        operator(Effect.flatMap(CurrentPrincipal, (principal) => webhooks.create(payload, { by: principal.id }))))
      .handle("list", () => operator(webhooks.list))
      .handle("get", ({ path }) => operator(webhooks.get(path.webhookId)))
      .handle("update", ({ path, payload }) => operator(webhooks.setEnabled(path.webhookId, payload.enabled)))
      .handle("remove", ({ path }) => operator(webhooks.remove(path.webhookId)))
      .handle("rotateSecret", ({ path, payload }) =>
        operator(webhooks.rotateSecret(path.webhookId, { overlap: payload.overlap as Duration.DurationInput | undefined })))
      .handle("test", ({ path }) => operator(Effect.map(webhooks.sendTest(path.webhookId), withEvent)))
      .handle("deliveries", ({ urlParams }) =>
        operator(
          Effect.map(webhooks.deliveries(defined({ ...urlParams })), (page) => ({
            deliveries: page.deliveries.map(withEvent),
            ...(page.cursor !== undefined ? { cursor: page.cursor } : {})
          }))
        ))
      .handle("delivery", ({ path }) => operator(Effect.map(webhooks.getDelivery(path.deliveryId), withEvent)))
      .handle("redeliver", ({ path }) => operator(Effect.map(webhooks.redeliver(path.deliveryId), withEvent)))
  }))
