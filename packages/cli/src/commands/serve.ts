/**
 * `gatehouse serve`: the HTTP API with an in-process runner, on a SQLite file or PostgreSQL.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type { Workflow } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import { integerOption } from "./shared.js"

const isDefinition = (value: unknown): value is Workflow.Any =>
  Predicate.hasProperty(value, "name") && Predicate.hasProperty(value, "definition") &&
  Predicate.hasProperty(value, "toLayer")

/**
 * Loads a workflows module: every exported Layer is a workflow implementation this process runs (and can
 * start over HTTP), every exported workflow definition (`Workflow.make`) can be started over HTTP too.
 *
 * @since 0.1.0
 * @category workflows
 */
export const loadWorkflows = (file: string) =>
  Effect.tryPromise({
    try: () => import(pathToFileURL(path.resolve(file)).href) as Promise<Record<string, unknown>>,
    catch: (error) => new Error(`cannot load the workflows module ${file}: ${String(error)}`)
  }).pipe(
    Effect.map((module) => {
      const values = Object.values(module)
      const layers = values.filter((value): value is Layer.Layer<never, unknown, never> => Layer.isLayer(value))
      return {
        layer: layers.length === 0 ? Layer.empty : Layer.mergeAll(...(layers as [Layer.Layer<never, unknown>])),
        workflows: values.filter(isDefinition)
      }
    })
  )

const isPostgres = (database: string) => /^postgres(ql)?:\/\//.test(database)

/**
 * @since 0.1.0
 * @category commands
 */
export const serve = Command.make(
  "serve",
  {
    database: Options.text("database").pipe(
      Options.withDescription("a SQLite file, or a postgres:// URL"),
      Options.withDefault("gatehouse.db")
    ),
    port: integerOption("port", { min: 0, max: 65_535 }).pipe(Options.withDescription("0 picks a free port"), Options.withDefault(8080)),
    host: Options.text("host").pipe(Options.withDefault("127.0.0.1")),
    auth: Options.file("auth", { exists: "yes" }).pipe(
      Options.withDescription("JSON file of API token hashes and OIDC/JWT settings"),
      Options.optional
    ),
    publicUrl: Options.text("public-url").pipe(
      Options.withDescription("the address people reach this server at, for the inbox's action links (https://…)"),
      Options.withSchema(Schema.String.pipe(Schema.pattern(/^https?:\/\/[^\s]+$/, {
        message: () => "--public-url must be an http:// or https:// URL"
      }))),
      Options.optional
    ),
    workflows: Options.file("workflows", { exists: "yes" }).pipe(
      Options.withDescription("a module exporting workflow layers (run here) and definitions (started over HTTP)"),
      Options.optional
    ),
    noWebhooks: Options.boolean("no-webhooks").pipe(
      Options.withDescription("do not deliver webhooks (nor emit approval reminders) from this process")
    )
  },
  (options) =>
    Effect.gen(function*() {
      // Loaded here, not at start-up: the other commands need none of the server (and start faster), and
      // only the commands on a database need the engine.
      const { Authentication, AuthenticationLive, Server } = yield* Effect.promise(() => import("@gatehouse/server"))
      const { Directory, Gatehouse, Webhooks } = yield* Effect.promise(() => import("@gatehouse/engine"))
      const HttpServer = yield* Effect.promise(() => import("@effect/platform/HttpServer"))
      const loaded = Option.isSome(options.workflows)
        ? yield* loadWorkflows(options.workflows.value)
        : { layer: Layer.empty, workflows: [] }
      const engine = isPostgres(options.database)
        ? Gatehouse.layerPg({ url: options.database, workflows: loaded.layer })
        : Gatehouse.layerSqlite({ filename: options.database, workflows: loaded.layer })
      const auth = Option.isSome(options.auth)
        ? AuthenticationLive.layerFile(options.auth.value)
        : AuthenticationLive.layer(Authentication.AuthConfig.make({ tokens: [] }))
      if (Option.isNone(options.auth)) {
        yield* Console.error("gatehouse: no --auth file: every endpoint but /healthz, /readyz, /openapi.json and /docs answers 401")
      }
      const announce = Layer.effectDiscard(
        Effect.gen(function*() {
          const address = (yield* HttpServer.HttpServer).address
          const url = address._tag === "TcpAddress"
            ? `http://${address.hostname === "::" || address.hostname === "0.0.0.0" ? "127.0.0.1" : address.hostname}:${address.port}`
            : `unix:${address.path}`
          yield* Console.log(`gatehouse: listening on ${url}`)
        })
      )
      return yield* Layer.launch(
        announce.pipe(
          Layer.provideMerge(Server.layer({
            port: options.port,
            host: options.host,
            workflows: loaded.workflows,
            ...(options.noWebhooks ? {} : { dispatchWebhooks: {} }),
            inbox: {
              // Shared by every server process behind one address (see docs/inbox.md); read from the
              // environment so it never shows in a process list.
              ...(process.env.GATEHOUSE_SESSION_KEY ? { sessionKey: Redacted.make(process.env.GATEHOUSE_SESSION_KEY) } : {}),
              ...(Option.isSome(options.publicUrl) ? { publicUrl: options.publicUrl.value } : {})
            }
          })),
          Layer.provide(auth),
          Layer.provide(engine),
          // The destination allow-list and the secrets' sealing key, for the API and the dispatcher; the
          // directory of people (GATEHOUSE_DIRECTORY), the only source of a chat link recipient's roles.
          Layer.provide(Layer.merge(Webhooks.layerConfig, Directory.layerConfig))
        )
      )
    })
).pipe(Command.withDescription("Serve the HTTP API and run the workflows of --workflows in this process"))
