/**
 * The `webhooks` commands on a server: its `/v1/webhooks` API through `HttpApiClient` (operators only).
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as GatehouseApi from "@gatehouse/server/GatehouseApi"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as CliError from "../CliError.js"
import { defined, webhookErrors, WebhooksClient } from "./webhooks.js"

/** The commands' client on the server at `url`, with a bearer token. */
export const layer = (url: string, token: Redacted.Redacted<string>): Layer.Layer<WebhooksClient> =>
  Layer.effect(
    WebhooksClient,
    Effect.gen(function*() {
      const client = yield* HttpApiClient.make(GatehouseApi.GatehouseApi, {
        baseUrl: url,
        transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(token)))
      })
      const where = `the server ${url}`
      const call = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.mapError(effect, (error): CliError.CliError => {
          const tag = Predicate.hasProperty(error, "_tag") ? error._tag : undefined
          if (tag === "RequestError") {
            return CliError.make("unreachable", `cannot reach ${where}: ${String((error as { message: unknown }).message)}`)
          }
          if (tag === "ResponseError") {
            const status = (error as unknown as { response: { status: number } }).response.status
            return CliError.make(
              status === 401 || status === 403 ? "not-authorized" : status === 404 ? "not-found" : "unreachable",
              `${where} answered ${status}`
            )
          }
          return webhookErrors(error, where)
        })
      return {
        create: (input) => call(client.webhooks.create({ payload: input })),
        list: call(client.webhooks.list()),
        remove: (webhookId) => call(client.webhooks.remove({ path: { webhookId } })),
        sendTest: (webhookId) => call(client.webhooks.test({ path: { webhookId } })),
        redeliver: (deliveryId) => call(client.webhooks.redeliver({ path: { deliveryId } })),
        deliveries: (query) =>
          call(Effect.map(client.webhooks.deliveries({ urlParams: defined({ ...query }) }), (page) => page.deliveries))
      } satisfies WebhooksClient
    })
  ).pipe(Layer.provide(FetchHttpClient.layer))
