/**
 * What the `webhooks` commands call, on a database (`webhooksDatabase.ts`) or on a server
 * (`webhooksServer.ts`), and the mapping of both sides' errors. Each side is loaded only when a command
 * uses it.
 */
import type { Webhooks } from "@gatehouse/engine"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as CliError from "../CliError.js"
import { fromTagged } from "./errors.js"

/** What the commands need, on a database or on a server. */
export interface WebhooksClient {
  readonly create: (input: Webhooks.CreateInput) => Effect.Effect<{ readonly subscription: Webhooks.Subscription; readonly secret: string }, CliError.CliError>
  readonly list: Effect.Effect<ReadonlyArray<Webhooks.Subscription>, CliError.CliError>
  readonly remove: (webhookId: string) => Effect.Effect<void, CliError.CliError>
  readonly sendTest: (webhookId: string) => Effect.Effect<Webhooks.Delivery, CliError.CliError>
  readonly redeliver: (deliveryId: string) => Effect.Effect<Webhooks.Delivery, CliError.CliError>
  readonly deliveries: (query: {
    readonly webhookId?: string | undefined
    readonly status?: Webhooks.Delivery["status"] | undefined
    readonly limit?: number | undefined
  }) => Effect.Effect<ReadonlyArray<Webhooks.Delivery>, CliError.CliError>
}

export const WebhooksClient = Context.GenericTag<WebhooksClient>("@gatehouse/cli/commands/webhooks/WebhooksClient")

export const webhookErrors = (error: unknown, where: string): CliError.CliError => {
  const tag = Predicate.hasProperty(error, "_tag") ? String(error._tag) : ""
  const message = Predicate.hasProperty(error, "message") ? String(error.message) : String(error)
  switch (tag) {
    case "WebhookNotFound":
      return CliError.make("not-found", message, "`gatehouse webhooks list` shows the subscriptions there are")
    case "DeliveryNotFound":
      return CliError.make("not-found", message, "`gatehouse webhooks deliveries` shows the deliveries there are")
    case "InvalidWebhook":
      return CliError.make("invalid-input", message)
    case "DestinationNotAllowed":
      return CliError.make(
        "invalid-input",
        message,
        "only http(s) URLs to allowed hosts: set GATEHOUSE_WEBHOOK_ALLOWED_HOSTS where the subscriptions are made"
      )
    default:
      return fromTagged(error, where)
  }
}

export const defined = <A extends Record<string, unknown>>(record: A): A =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as A
