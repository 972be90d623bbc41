/**
 * `gatehouse webhooks add URL --secret-file PATH`, `gatehouse webhooks list`, `gatehouse webhooks remove ID`,
 * `gatehouse webhooks test ID`, `gatehouse webhooks redeliver DELIVERY` and `gatehouse webhooks deliveries`:
 * webhook subscriptions and their deliveries, on the database (the engine's `Webhooks`, with the allow-list
 * and sealing key of `GATEHOUSE_WEBHOOK_ALLOWED_HOSTS` / `GATEHOUSE_WEBHOOK_SECRET_KEY`) or on a server (its
 * `/v1/webhooks` API, operators only). The signing secret is never printed: `add` writes it to a file
 * only its owner can read. A chat subscription's `--reviewer` must be a person of the deployment's
 * directory (`GATEHOUSE_DIRECTORY` / `GATEHOUSE_DIRECTORY_FILE`, where the subscription is made); `--role`
 * is refused: roles come from that directory, never from the command line.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type { Webhooks } from "@gatehouse/engine"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as fs from "node:fs"
import * as path from "node:path"
import * as CliError from "../CliError.js"
import { deliveryStatuses } from "../internal/choices.js"
import { defined, WebhooksClient } from "../internal/webhooks.js"
import * as Output from "../Output.js"
import { type Connection, connection, json } from "./shared.js"

// Each side, with what it needs (the engine and its SQL drivers, or the HTTP client and the server's API
// definition), is loaded only when a command uses it: not at start-up, not for `--help`.
const onDatabase = (url: string): Layer.Layer<WebhooksClient, CliError.CliError> =>
  Layer.unwrapEffect(
    Effect.map(Effect.promise(() => import("../internal/webhooksDatabase.js")), (database) => database.layer(url))
  )

const onServer = (url: string, token: Redacted.Redacted<string>): Layer.Layer<WebhooksClient> =>
  Layer.unwrapEffect(
    Effect.map(Effect.promise(() => import("../internal/webhooksServer.js")), (server) => server.layer(url, token))
  )

const envOption = (name: string) =>
  Effect.orElseSucceed(
    Effect.map(Config.option(Config.nonEmptyString(name)), Option.map((value) => value.trim())),
    () => Option.none<string>()
  )

/** The connection the options (or the environment) name, the way every other command resolves it. */
const withWebhooks = <A>(
  options: Connection,
  effect: Effect.Effect<A, CliError.CliError, WebhooksClient>
): Effect.Effect<A, CliError.CliError> =>
  Effect.gen(function*() {
    const server = Option.isSome(options.server) ? options.server : yield* envOption("GATEHOUSE_SERVER_URL")
    const database = Option.isSome(options.database) ? options.database : yield* envOption("GATEHOUSE_DATABASE_URL")
    if (Option.isSome(server) && Option.isSome(options.database)) {
      return yield* CliError.make("invalid-input", "give either --server or --database, not both")
    }
    if (Option.isSome(server)) {
      if (!/^https?:\/\//i.test(server.value)) {
        return yield* CliError.make("invalid-input", `--server must be an http:// or https:// URL, got ${JSON.stringify(server.value)}`)
      }
      const token = Option.isSome(options.token)
        ? options.token
        : yield* Effect.orElseSucceed(Config.option(Config.redacted("GATEHOUSE_TOKEN")), () => Option.none())
      if (Option.isNone(token)) {
        return yield* CliError.make(
          "invalid-input",
          "--server needs a token",
          "give --token T, or set GATEHOUSE_TOKEN (it stays out of the process list)"
        )
      }
      return yield* Effect.provide(effect, onServer(server.value.replace(/\/+$/, ""), token.value))
    }
    if (Option.isSome(database) && database.value.trim() !== "") {
      return yield* Effect.provide(effect, onDatabase(database.value))
    }
    return yield* CliError.make(
      "invalid-input",
      "no database or server to talk to",
      "give --database PATH|postgres://URL (or set GATEHOUSE_DATABASE_URL), or --server URL --token T"
    )
  })

/** Writes the secret to a new file only its owner can read; an existing file is never overwritten. */
const writeSecret = (file: string, secret: string): Effect.Effect<void, CliError.CliError> =>
  Effect.try({
    try: () => fs.writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" }),
    catch: (error) =>
      CliError.make(
        "invalid-input",
        `cannot write the secret to ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        "give --secret-file a new file in a directory you can write (it is never overwritten)"
      )
  })

const webhookIdArg = Args.text({ name: "WEBHOOK" }).pipe(Args.withDescription("the subscription's id (wh_…)"))
const deliveryIdArg = Args.text({ name: "DELIVERY" }).pipe(Args.withDescription("the delivery's webhook-id (msg_…)"))

const row = (subscription: Webhooks.Subscription): ReadonlyArray<string> => [
  subscription.id,
  subscription.url,
  subscription.eventTypes?.join(",") ?? "*",
  subscription.workflows?.join(",") ?? "*",
  subscription.format === "slack" ? `slack${subscription.reviewer !== undefined ? ` to ${subscription.reviewer.id}` : ""}` : "standard",
  subscription.enabled ? "enabled" : "disabled"
]

const headers = ["WEBHOOK", "URL", "EVENTS", "WORKFLOWS", "FORMAT", "STATE"]

/**
 * @since 0.1.0
 * @category commands
 */
export const add = Command.make(
  "add",
  {
    ...connection,
    json,
    url: Args.text({ name: "URL" }).pipe(Args.withDescription("where to POST the events (http or https)")),
    secretFile: Options.file("secret-file", { exists: "no" }).pipe(
      Options.withDescription("a new file to write the signing secret to (mode 600); it is shown nowhere else")
    ),
    event: Options.text("event").pipe(
      Options.withDescription("an event type to send (approval.requested, approval.*); repeat it; default every type"),
      Options.repeated
    ),
    workflow: Options.text("workflow").pipe(
      Options.withDescription("a workflow whose events to send; repeat it; default every workflow"),
      Options.repeated
    ),
    format: Options.choice("format", ["standard", "slack"]).pipe(
      Options.withDescription("standard: the event as JSON; slack: chat messages about approvals"),
      Options.withDefault("standard" as const)
    ),
    reviewer: Options.text("reviewer").pipe(
      Options.withDescription(
        "with --format slack: the person (an id of the deployment's directory) whose Approve / Deny links the messages carry"
      ),
      Options.optional
    ),
    role: Options.text("role").pipe(
      Options.withDescription("refused: a reviewer's roles come from the deployment's directory of people"),
      Options.repeated
    ),
    description: Options.text("description").pipe(Options.optional)
  },
  (options) =>
    withWebhooks(
      options,
      Effect.gen(function*() {
        const client = yield* WebhooksClient
        const reviewer = Option.getOrUndefined(options.reviewer)
        const { secret, subscription } = yield* client.create(defined({
          url: options.url,
          eventTypes: options.event.length > 0 ? options.event : undefined,
          workflows: options.workflow.length > 0 ? options.workflow : undefined,
          format: options.format === "slack" ? "slack" as const : undefined,
          reviewer: reviewer === undefined
            ? undefined
            : options.role.length > 0
            ? { id: reviewer, roles: options.role }
            : { id: reviewer },
          description: Option.getOrUndefined(options.description)
        }))
        const file = path.resolve(options.secretFile)
        yield* writeSecret(file, secret).pipe(
          // The subscription is no use without its secret: take it back.
          Effect.tapError(() => Effect.ignore(client.remove(subscription.id)))
        )
        if (options.json) return yield* Output.json({ subscription, secretFile: file })
        yield* Output.table(headers, [row(subscription)], "")
        yield* Console.log(`signing secret written to ${file} (it is shown nowhere else)`)
      })
    )
).pipe(Command.withDescription("Subscribe a URL to events; the signing secret goes to --secret-file"))

/**
 * @since 0.1.0
 * @category commands
 */
export const list = Command.make("list", { ...connection, json }, (options) =>
  withWebhooks(
    options,
    Effect.gen(function*() {
      const subscriptions = yield* (yield* WebhooksClient).list
      if (options.json) return yield* Output.json(subscriptions)
      yield* Output.table(headers, subscriptions.map(row), "no webhook subscriptions")
    })
  )).pipe(Command.withDescription("The webhook subscriptions (never their secrets)"))

/**
 * @since 0.1.0
 * @category commands
 */
export const remove = Command.make("remove", { ...connection, json, webhookId: webhookIdArg }, (options) =>
  withWebhooks(
    options,
    Effect.gen(function*() {
      yield* (yield* WebhooksClient).remove(options.webhookId)
      if (options.json) return yield* Output.json({ removed: options.webhookId })
      yield* Console.log(`removed ${options.webhookId} and its deliveries`)
    })
  )).pipe(Command.withDescription("Remove a subscription with its deliveries"))

const deliveryLine = (delivery: Webhooks.Delivery) =>
  `${delivery.id} to ${delivery.webhookId}: ${delivery.type}, ${delivery.status}`

/**
 * @since 0.1.0
 * @category commands
 */
export const test = Command.make("test", { ...connection, json, webhookId: webhookIdArg }, (options) =>
  withWebhooks(
    options,
    Effect.gen(function*() {
      const delivery = yield* (yield* WebhooksClient).sendTest(options.webhookId)
      if (options.json) return yield* Output.json(delivery)
      yield* Console.log(`queued ${deliveryLine(delivery)}`)
    })
  )).pipe(Command.withDescription("Queue a webhook.test message to a subscription"))

/**
 * @since 0.1.0
 * @category commands
 */
export const redeliver = Command.make("redeliver", { ...connection, json, deliveryId: deliveryIdArg }, (options) =>
  withWebhooks(
    options,
    Effect.gen(function*() {
      const delivery = yield* (yield* WebhooksClient).redeliver(options.deliveryId)
      if (options.json) return yield* Output.json(delivery)
      yield* Console.log(`queued again ${deliveryLine(delivery)}`)
    })
  )).pipe(Command.withDescription("Send a delivered or dead-lettered message again, with a fresh retry horizon"))

/**
 * @since 0.1.0
 * @category commands
 */
export const deliveries = Command.make(
  "deliveries",
  {
    ...connection,
    json,
    webhook: Options.text("webhook").pipe(Options.withDescription("only this subscription's"), Options.optional),
    status: Options.choice("status", deliveryStatuses).pipe(
      Options.withDescription("dead: the dead letters"),
      Options.optional
    ),
    limit: Options.integer("limit").pipe(Options.optional)
  },
  (options) =>
    withWebhooks(
      options,
      Effect.gen(function*() {
        const page = yield* (yield* WebhooksClient).deliveries({
          webhookId: Option.getOrUndefined(options.webhook),
          status: Option.getOrUndefined(options.status),
          limit: Option.getOrUndefined(options.limit)
        })
        if (options.json) return yield* Output.json(page)
        const now = yield* Output.now
        yield* Output.table(
          ["DELIVERY", "WEBHOOK", "TYPE", "RUN", "STATUS", "ATTEMPTS", "LAST", "CREATED"],
          page.map((delivery) => [
            delivery.id,
            delivery.webhookId,
            delivery.type,
            delivery.runId ?? "-",
            Output.status(delivery.status),
            String(delivery.attempts),
            delivery.lastError ?? (delivery.lastStatus !== undefined ? `HTTP ${delivery.lastStatus}` : "-"),
            Output.relative(delivery.createdAt, now)
          ]),
          "no deliveries"
        )
      })
    )
).pipe(Command.withDescription("Deliveries in outbox order, with their state; --status dead lists the dead letters"))

/**
 * @since 0.1.0
 * @category commands
 */
export const webhooks = Command.make("webhooks").pipe(
  Command.withDescription("Webhook subscriptions and their deliveries"),
  Command.withSubcommands([add, list, remove, test, redeliver, deliveries])
)
