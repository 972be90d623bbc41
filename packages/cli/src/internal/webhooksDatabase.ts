/**
 * The `webhooks` commands on the database: the engine's `Webhooks`, with the allow-list and sealing key
 * this process is configured with.
 */
import { Directory, Gatehouse, Webhooks } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import * as os from "node:os"
import * as CliError from "../CliError.js"
import { defined, webhookErrors, WebhooksClient } from "./webhooks.js"

/** The commands' client on the database `url` names; one that cannot be opened fails with `unreachable`. */
export const layer = (url: string): Layer.Layer<WebhooksClient, CliError.CliError> => {
  const database = Gatehouse.parseDatabaseUrl(url)
  const client: Layer.Layer<Gatehouse.ClientServices, unknown> = database._tag === "Pg"
    ? Gatehouse.layerClientPg({ url: database.url })
    : Gatehouse.layerClientSqlite({ filename: database.filename })
  const where = "the database"
  return Layer.scoped(
    WebhooksClient,
    Effect.gen(function*() {
      const webhooks = yield* Webhooks.Webhooks
      // The allow-list and the sealing key this process is configured with.
      const settings = yield* Layer.build(Layer.merge(Webhooks.layerConfig, Directory.layerConfig)).pipe(
        Effect.mapError((error) => CliError.make("invalid-input", `webhook settings: ${error.message}`))
      )
      const call = <A, E>(effect: Effect.Effect<A, E>) =>
        effect.pipe(Effect.provide(settings), Effect.mapError((error) => webhookErrors(error, where)))
      return {
        // On the database the one creating is the local user, recorded in the audit chain.
        create: (input) => call(webhooks.create(input, { by: `cli:${os.userInfo().username}` })),
        list: call(webhooks.list),
        remove: (webhookId) => call(webhooks.remove(webhookId)),
        sendTest: (webhookId) => call(webhooks.sendTest(webhookId)),
        redeliver: (deliveryId) => call(webhooks.redeliver(deliveryId)),
        deliveries: (query) => call(Effect.map(webhooks.deliveries(defined({ ...query })), (page) => page.deliveries))
      } satisfies WebhooksClient
    })
  ).pipe(
    Layer.provide(client),
    Layer.mapError((error) =>
      CliError.isCliError(error)
        ? error
        : CliError.make(
          "unreachable",
          `cannot open the database: ${Predicate.hasProperty(error, "message") ? String(error.message) : String(error)}`,
          "check --database or GATEHOUSE_DATABASE_URL (a SQLite file path, or postgres://user@host:port/db)"
        )
    )
  )
}
