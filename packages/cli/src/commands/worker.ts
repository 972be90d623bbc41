/**
 * `gatehouse worker --workflows ./module.js`: a runner process for a user's compiled workflow module, on
 * the database; graceful on SIGTERM (it stops claiming, gives its runs' leases back, exits 0).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { redactUrl } from "../Backend.js"
import * as CliError from "../CliError.js"
import { loadWorkflows } from "./serve.js"
import { connection, databaseUrl, integerOption } from "./shared.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const worker = Command.make(
  "worker",
  {
    database: connection.database,
    workflows: Options.file("workflows", { exists: "yes" }).pipe(
      Options.withDescription("a JavaScript module exporting workflow layers (`MyWorkflow.toLayer(...)`)")
    ),
    concurrency: integerOption("concurrency", { min: 1, max: 10_000 }).pipe(
      Options.withDescription("runs executed at once (default 16)"),
      Options.optional
    ),
    pollInterval: integerOption("poll-interval", { min: 10, max: 3_600_000 }).pipe(
      Options.withDescription("milliseconds between looks for work another process woke (default 1000)"),
      Options.optional
    ),
    noWebhooks: Options.boolean("no-webhooks").pipe(
      Options.withDescription("do not deliver webhooks (nor emit approval reminders) from this process")
    )
  },
  (options) =>
    Effect.gen(function*() {
      const url = yield* databaseUrl(options.database)
      const loaded = yield* loadWorkflows(options.workflows).pipe(
        Effect.mapError((error) => CliError.make("invalid-input", `--workflows: ${error.message}`))
      )
      if (loaded.workflows.length === 0 && loaded.layer === Layer.empty) {
        return yield* CliError.make(
          "invalid-input",
          `--workflows: ${options.workflows} exports no workflow layer`,
          "export the layers of your workflows (export const MyWorkflowLive = MyWorkflow.toLayer(...))"
        )
      }
      const runnerOptions = {
        workflows: loaded.layer,
        ...(Option.isSome(options.concurrency) ? { concurrency: options.concurrency.value } : {}),
        ...(Option.isSome(options.pollInterval) ? { pollInterval: Duration.millis(options.pollInterval.value) } : {})
      }
      // Loaded here, not at start-up: the engine and its SQL drivers are for the commands that use them.
      const { Directory, Gatehouse, Runner, WebhookDispatcher, Webhooks } = yield* Effect.promise(() =>
        import("@gatehouse/engine")
      )
      const database = Gatehouse.parseDatabaseUrl(url)
      const engine = database._tag === "Pg"
        ? Gatehouse.layerPg({ ...runnerOptions, url: database.url })
        : Gatehouse.layerSqlite({ ...runnerOptions, filename: database.filename })
      const announce = Layer.effectDiscard(
        Effect.flatMap(Runner.Runner, (runner) =>
          Console.log(`gatehouse: worker ${runner.runnerId} running on ${redactUrl(url)}`))
      )
      // The dispatcher delivers the outbox's webhooks and emits reminders, one delivery at a time across
      // every process that runs one (claims with SKIP LOCKED). Chat links need the inbox's public address.
      const publicUrl = process.env.GATEHOUSE_PUBLIC_URL
      const dispatcher = options.noWebhooks ? Layer.empty : Layer.discard(WebhookDispatcher.layerFetch(
        publicUrl === undefined || publicUrl === ""
          ? {}
          : { links: { publicUrl, actionUrl: (token) => `${publicUrl.replace(/\/+$/, "")}/inbox/links/${token}` } }
      ))
      return yield* Layer.launch(
        // The directory of people (GATEHOUSE_DIRECTORY): the only source of a chat link recipient's roles.
        Layer.mergeAll(announce, dispatcher).pipe(
          Layer.provide(engine),
          Layer.provide(Layer.merge(Webhooks.layerConfig, Directory.layerConfig))
        )
      ).pipe(
        Effect.mapError((error) =>
          CliError.make(
            "unreachable",
            `the worker could not start on ${redactUrl(url)}: ${(error as Error).message ?? String(error)}`,
            "check --database or GATEHOUSE_DATABASE_URL, and that the module's layers build"
          )
        )
      )
    })
).pipe(Command.withDescription("Run the workflows of a compiled module on the database until SIGTERM"))
