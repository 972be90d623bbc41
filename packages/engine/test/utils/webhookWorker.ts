/**
 * A dispatcher process of the webhook kill test: `node --import tsx webhookWorker.ts` with GATEHOUSE_URL
 * (a PostgreSQL URL on the test's schema). Runs `WebhookDispatcher.layerFetch` until killed and prints
 * "ready" once it is up.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { WebhookDispatcher, Webhooks } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

const url = process.env.GATEHOUSE_URL!

const dispatcher = WebhookDispatcher.layerFetch({
  owner: `worker-${process.pid}`,
  pollInterval: "200 millis",
  timeout: "10 seconds",
  leaseDuration: "11 seconds"
}).pipe(
  Layer.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 2 })),
  Layer.provide(Webhooks.layerAllowedHosts(["127.0.0.1"]))
)

Layer.launch(Layer.merge(dispatcher, Layer.effectDiscard(Effect.sync(() => process.stdout.write("ready\n"))))).pipe(
  Effect.runPromise
)
