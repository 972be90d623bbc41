/**
 * The HTTP server: the API's handlers, authentication, `/openapi.json`, `/docs` (Swagger UI, bundled,
 * no CDN), request body limits, on Node's HTTP server.
 *
 * @example
 * ```ts
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Gatehouse } from "@gatehouse/engine"
 * import { AuthenticationLive, Server } from "@gatehouse/server"
 * import { Layer } from "effect"
 *
 * Server.layer({ port: 8080 }).pipe(
 *   Layer.provide(AuthenticationLive.layerFile("auth.json")),
 *   Layer.provide(Gatehouse.layerSqlite({ filename: "gatehouse.db" })),
 *   Layer.launch,
 *   NodeRuntime.runMain
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as Headers from "@effect/platform/Headers"
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as SqlClient from "@effect/sql/SqlClient"
import {
  type ActionLinks,
  type Approvals,
  type Audit,
  type Events,
  type Health,
  type Policies,
  WebhookDispatcher,
  type Webhooks,
  type Workflow,
  WorkflowRegistry,
  type Workflows
} from "@gatehouse/engine"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import { createServer } from "node:http"
import { BadRequest, PayloadTooLarge } from "./api/Errors.js"
import type { Authentication } from "./Authentication.js"
import { GatehouseApi } from "./GatehouseApi.js"
import { ApprovalsLive } from "./http/ApprovalsLive.js"
import { AuditLive } from "./http/AuditLive.js"
import { EventsLive } from "./http/EventsLive.js"
import { HealthLive } from "./http/HealthLive.js"
import { MetricsLive } from "./http/MetricsLive.js"
import { PolicyLive } from "./http/PolicyLive.js"
import { RunsLive } from "./http/RunsLive.js"
import { DeferredsLive } from "./http/DeferredsLive.js"
import { WebhooksLive } from "./http/WebhooksLive.js"
import * as Inbox from "./Inbox.js"
import * as Metrics from "./Metrics.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Default 8080; 0 picks a free port. */
  readonly port?: number | undefined
  /** Default 127.0.0.1. */
  readonly host?: string | undefined
  /**
   * `POST /v1/workflows/{name}/runs` starts what the engine's `WorkflowRegistry` of this process knows:
   * every workflow whose `toLayer` runs here. Definitions listed here are added to that registry (startable
   * by name, their runs executed by runners elsewhere); the list is no registry of its own, and does
   * nothing in a process with only the engine's client services (it has no registry).
   */
  readonly workflows?: ReadonlyArray<Pick<Workflow.Any, "name" | "definition">> | undefined
  /** Largest accepted request body in bytes (default 1 MiB). */
  readonly maxBodySize?: number | undefined
  /** Largest accepted request head (request line and headers) in bytes (default 16 KiB; larger is 431). */
  readonly maxHeaderSize?: number | undefined
  /**
   * How long a client may take to send a whole request, in milliseconds (default 30 s; slower is 408).
   * Responses are not bounded by it: an event stream stays open.
   */
  readonly requestTimeout?: number | undefined
  /**
   * Run the webhook dispatcher in this process too (it may run in runner processes instead, or in both).
   * The destination allow-list is `Webhooks.AllowedHosts` where the server layer is built; chat messages
   * link to the inbox's `publicUrl` unless `links` says otherwise.
   */
  readonly dispatchWebhooks?: WebhookDispatcher.DispatcherOptions | undefined
  /** The reviewer inbox under `/inbox`: its session key and the public address action links are built on. */
  readonly inbox?: Inbox.Options | undefined
}

/**
 * What the server needs from the engine and the application.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements =
  | Approvals.Approvals
  | ActionLinks.ActionLinks
  | Policies.Policies
  | Workflows.Workflows
  | Events.Events
  | Audit.Audit
  | Health.Health
  | Webhooks.Webhooks
  // The webhook dispatcher runs on the engine's storage of this SQL client (`WebhookDispatcher.layerFetch`).
  | SqlClient.SqlClient
  | Authentication

const isDecodeFailure = (defect: unknown): defect is { readonly cause?: unknown } =>
  Predicate.isTagged(defect, "RequestError") && (defect as { readonly reason?: unknown }).reason === "Decode"

/**
 * Every request body is JSON, whatever its content type says (`curl -d` sends form encoding). Request
 * bodies over the limit are 413, unreadable ones (malformed JSON) 400: the platform turns both into
 * defects, which would otherwise be 500s.
 */
const bodyLimits = (maxBodySize: number) =>
  HttpApiBuilder.middleware(GatehouseApi, (app) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      // A declared length over the limit is refused before reading any of the body.
      Number(request.headers["content-length"] ?? 0) > maxBodySize
        ? Effect.fail(new PayloadTooLarge({ limit: maxBodySize }))
        : app).pipe(
      Effect.updateService(HttpServerRequest.HttpServerRequest, (request) =>
        request.headers["content-type"]?.toLowerCase().includes("application/json") === true
          ? request
          : request.modify({ headers: Headers.set(request.headers, "content-type", "application/json") })),
      Effect.catchAllCause((cause) => {
        const defect = Cause.dieOption(cause)
        if (Option.isSome(defect) && isDecodeFailure(defect.value)) {
          const reason = defect.value.cause
          return Effect.fail(
            reason instanceof Error && reason.message === "maxBytes exceeded"
              ? new PayloadTooLarge({ limit: maxBodySize })
              : new BadRequest({
                message: `The request body is not valid JSON${reason instanceof Error ? `: ${reason.message}` : ""}`
              })
          )
        }
        return Effect.failCause(cause)
      }),
      HttpIncomingMessage.withMaxBodySize(Option.some(FileSystem.Size(maxBodySize)))
    ))

// The listed definitions go into the engine's one registry, where a start by name looks.
const defineWorkflows = (workflows: ReadonlyArray<Pick<Workflow.Any, "name" | "definition">>) =>
  Layer.effectDiscard(
    Effect.flatMap(Effect.serviceOption(WorkflowRegistry.WorkflowRegistry), (registry) =>
      Option.isSome(registry)
        ? Effect.forEach(workflows, (workflow) => registry.value.define(workflow.definition), { discard: true })
        : workflows.length === 0
        ? Effect.void
        : Effect.logWarning(
          `Server: no WorkflowRegistry in this process (only the engine's client services): ` +
            `${workflows.map((workflow) => workflow.name).join(", ")} cannot be started over HTTP`
        ))
  )

/**
 * The API's handlers, without a server: for embedding in another `HttpApiBuilder.serve` or a web handler.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerApi = (
  options: Pick<Options, "workflows" | "maxBodySize"> = {}
): Layer.Layer<HttpApi.Api, never, Requirements> =>
  HttpApiBuilder.api(GatehouseApi).pipe(
    Layer.provide([
      ApprovalsLive,
      RunsLive,
      DeferredsLive,
      EventsLive,
      AuditLive,
      PolicyLive,
      HealthLive,
      MetricsLive,
      WebhooksLive
    ]),
    Layer.provide(Metrics.layerPrometheus),
    Layer.provide(defineWorkflows(options.workflows ?? [])),
    Layer.merge(bodyLimits(options.maxBodySize ?? 1024 * 1024))
  )

// Chat messages link to this server's inbox unless the dispatcher's options say otherwise.
const withInboxLinks = (
  dispatch: WebhookDispatcher.DispatcherOptions,
  inbox: Inbox.Options | undefined
): WebhookDispatcher.DispatcherOptions => {
  const publicUrl = inbox?.publicUrl
  return dispatch.links !== undefined || publicUrl === undefined
    ? dispatch
    : { ...dispatch, links: { publicUrl, actionUrl: (token) => Inbox.actionLinkUrl(publicUrl, token) } }
}

/**
 * The server on Node's HTTP server, listening on `host:port`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<HttpServer.HttpServer, ServeError, Requirements> =>
  HttpApiBuilder.serve(Metrics.middleware).pipe(
    Layer.merge(
      options.dispatchWebhooks === undefined
        ? Layer.empty
        : Layer.discard(WebhookDispatcher.layerFetch(withInboxLinks(options.dispatchWebhooks, options.inbox)))
    ),
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(Inbox.layer(options.inbox)),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(layerApi(options)),
    Layer.provideMerge(
      NodeHttpServer.layer(
        () =>
          createServer({
            maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
            requestTimeout: options.requestTimeout ?? 30_000,
            headersTimeout: Math.min(options.requestTimeout ?? 30_000, 15_000)
          }),
        { port: options.port ?? 8080, host: options.host ?? "127.0.0.1" }
      )
    )
  )

/**
 * The server with its port and host from `GATEHOUSE_PORT` and `GATEHOUSE_HOST`, and the inbox's session key
 * and public address from `GATEHOUSE_SESSION_KEY` and `GATEHOUSE_PUBLIC_URL` (see `Inbox.layerConfig`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "port" | "host"> = {}
): Layer.Layer<HttpServer.HttpServer, ServeError | ConfigError, Requirements> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.all({
        port: Config.integer("GATEHOUSE_PORT").pipe(Config.withDefault(8080)),
        host: Config.string("GATEHOUSE_HOST").pipe(Config.withDefault("127.0.0.1")),
        sessionKey: Config.option(Config.redacted("GATEHOUSE_SESSION_KEY")),
        publicUrl: Config.option(Config.url("GATEHOUSE_PUBLIC_URL"))
      }),
      (config) =>
        layer({
          ...options,
          port: config.port,
          host: config.host,
          inbox: {
            ...options.inbox,
            ...(Option.isSome(config.sessionKey) ? { sessionKey: config.sessionKey.value } : {}),
            ...(Option.isSome(config.publicUrl) ? { publicUrl: config.publicUrl.value.toString() } : {})
          }
        })
    )
  )
