import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import { Approval, Gatehouse, GatehouseTest, Step, Workflow } from "@gatehouse/engine"
import { Authentication, AuthenticationLive, GatehouseApi, Server } from "@gatehouse/server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { databaseUrl, tempDir } from "@gatehouse/test-utils/Database"
import * as path from "node:path"

export const Refund = Workflow.make({
  name: "refund",
  payload: Schema.Struct({ ticketId: Schema.String, amount: Schema.Number }),
  success: Schema.Struct({ approved: Schema.Boolean, refunded: Schema.Number }),
  idempotencyKey: (payload) => payload.ticketId
})

export const RefundLive = Refund.toLayer((payload) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("refund-decision", {
      title: `Refund ${payload.amount}?`,
      summary: "Customer is inside the refund window.",
      metadata: { ticketId: payload.ticketId, amount: payload.amount },
      decision: Schema.Struct({ approvedAmount: Schema.Number }),
      onDeny: "continue",
      timeout: "7 days",
      reviewers: { roles: ["finance"] }
    })
    if (!decision.approved) return { approved: false, refunded: 0 }
    const refunded = yield* Step.run("pay", Effect.succeed(decision.payload?.approvedAmount ?? 0), {
      success: Schema.Number
    })
    return { approved: true, refunded }
  })
)

/** A step behind an approval gate: its approval's node id is `ship/approval`. */
export const Deploy = Workflow.make({
  name: "deploy",
  payload: Schema.Struct({ version: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.version
})

export const DeployLive = Deploy.toLayer((payload) =>
  Step.run("ship", Effect.succeed(`shipped ${payload.version}`), {
    success: Schema.String,
    needsApproval: { title: `Ship ${payload.version}?`, reviewers: { roles: ["finance"] } }
  })
)

/** A workflow without its own idempotency key: `Idempotency-Key` decides. */
export const Ping = Workflow.make({
  name: "ping",
  payload: Schema.Struct({ message: Schema.String }),
  success: Schema.String
})

export const PingLive = Ping.toLayer((payload) => Effect.succeed(payload.message))

export const tokens = {
  operator: "op-token-0123456789abcdef",
  grace: "grace-token-0123456789abcdef",
  mallory: "mallory-token-0123456789abcdef",
  starter: "starter-token-0123456789abcdef"
} as const

export const authConfig = {
  tokens: [
    { id: "olivia", roles: ["operator"], sha256: AuthenticationLive.hashToken(tokens.operator) },
    { id: "grace", roles: ["finance"], sha256: AuthenticationLive.hashToken(tokens.grace) },
    { id: "mallory", roles: ["support"], sha256: AuthenticationLive.hashToken(tokens.mallory) },
    { id: "sam", roles: ["starter"], sha256: AuthenticationLive.hashToken(tokens.starter) }
  ]
}

export type Engine = Layer.Layer<Gatehouse.Services, unknown>

export const sqliteEngine: Effect.Effect<Engine, never, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* tempDir("gatehouse-server-")
  return Gatehouse.layerSqlite({
    filename: path.join(dir, "gatehouse.db"),
    workflows: Layer.mergeAll(RefundLive, PingLive, DeployLive),
    pollInterval: "200 millis"
  }) as Engine
})

export { databaseUrl, pgAvailable } from "@gatehouse/test-utils/Database"

export const pgEngine: Effect.Effect<Engine, unknown, Scope.Scope> = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_server" })
  return Gatehouse.layerPg({
    url,
    workflows: Layer.mergeAll(RefundLive, PingLive, DeployLive),
    pollInterval: "200 millis",
    maxConnections: 8
  }) as Engine
})

/** The engine a whole `it.layer` block shares: built once, each test serves what it needs on it. */
export class SharedEngine extends Context.Tag("@gatehouse/server/test/SharedEngine")<SharedEngine, Engine>() {}

/** Builds `makeEngine`'s engine once for the block; `SharedEngine` is that built engine, for `serve`. */
export const sharedEngine = (makeEngine: Effect.Effect<Engine, unknown, Scope.Scope>): Layer.Layer<SharedEngine, unknown> =>
  Layer.scoped(
    SharedEngine,
    Effect.gen(function*() {
      const context = yield* Layer.build(yield* makeEngine)
      return Layer.succeedContext(context) as Engine
    })
  )

const makeClient = (baseUrl: string, token?: string) =>
  HttpApiClient.make(GatehouseApi.GatehouseApi, {
    baseUrl,
    ...(token !== undefined
      ? { transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token)) }
      : {})
  }).pipe(Effect.provide(FetchHttpClient.layer))

export type ApiClient = Effect.Effect.Success<ReturnType<typeof makeClient>>

export interface Running {
  readonly baseUrl: string
  readonly context: Context.Context<Gatehouse.Services>
  /** A typed client authenticated with the token. */
  readonly client: (token?: string) => Effect.Effect<ApiClient>
  /** Plain fetch against the server. */
  readonly fetch: (path: string, init?: RequestInit & { readonly token?: string }) => Effect.Effect<Response>
}

/** The engine and the server on 127.0.0.1, port 0, for the scope. */
export const serve = (
  engine: Engine,
  options: Server.Options = {},
  auth: unknown = authConfig,
  tracing: Layer.Layer<any> = Layer.empty as Layer.Layer<any>
): Effect.Effect<Running, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      Server.layer({ port: 0, workflows: [Refund, Ping, Deploy], ...options }).pipe(
        Layer.provide(AuthenticationLive.layer(Schema.decodeUnknownSync(Authentication.AuthConfig)(auth ?? authConfig))),
        Layer.provideMerge(engine),
        Layer.provide(tracing)
      )
    )
    const address = Context.get(context, HttpServer.HttpServer).address as HttpServer.TcpAddress
    const baseUrl = `http://127.0.0.1:${address.port}`
    const client = (token?: string) => makeClient(baseUrl, token)
    const fetch = (path: string, init: RequestInit & { readonly token?: string } = {}) =>
      Effect.promise(() => {
        const { token, ...rest } = init
        const headers = new Headers(rest.headers)
        if (token !== undefined) headers.set("authorization", `Bearer ${token}`)
        return globalThis.fetch(`${baseUrl}${path}`, { ...rest, headers })
      })
    return { baseUrl, context: context as Context.Context<any>, client, fetch }
  })

/** Retries `effect` until it succeeds, every 20 ms, for at most 60 seconds (waiting on a condition). */
export const eventually = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.retry(effect, Schedule.spaced("20 millis").pipe(Schedule.upTo("60 seconds")))
