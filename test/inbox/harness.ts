/**
 * The inbox's browser tests' harness: the engine with a real runner and the server on 127.0.0.1 (port 0),
 * on a SQLite file or a PostgreSQL schema of its own, and Debian's chromium driven by playwright-core.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { Approval, Gatehouse, GatehouseTest, Step, Workflow, Workflows } from "@gatehouse/engine"
import { Authentication, AuthenticationLive, Server } from "@gatehouse/server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type Browser, chromium } from "playwright-core"

export const Refund = Workflow.make({
  name: "refund",
  payload: Schema.Struct({ ticketId: Schema.String, amount: Schema.Number }),
  success: Schema.Struct({ approved: Schema.Boolean, refunded: Schema.Number }),
  idempotencyKey: (payload) => payload.ticketId
})

export const RefundLive = Refund.toLayer((payload) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("refund-decision", {
      title: `Refund ${payload.amount} EUR for ${payload.ticketId}?`,
      summary: "Customer is inside the refund window.",
      metadata: { ticketId: payload.ticketId, amount: payload.amount, customer: "Ada Lovelace <ada@example.com>" },
      reviewed: { recommendation: "refund", amount: payload.amount },
      decision: Schema.Struct({
        approvedAmount: Schema.Number.pipe(Schema.between(0, payload.amount)).annotations({ title: "Approved amount" })
      }),
      onDeny: "continue",
      timeout: "7 days",
      reviewers: { roles: ["finance"] }
    })
    if (!decision.approved) return { approved: false, refunded: 0 }
    const refunded = yield* Step.run("pay", Effect.succeed(decision.payload?.approvedAmount ?? 0), { success: Schema.Number })
    return { approved: true, refunded }
  })
)

export const Board = Workflow.make({
  name: "budget",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

export const BoardLive = Board.toLayer((payload) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("budget-sign-off", {
      title: `Budget ${payload.id}`,
      onDeny: "continue",
      timeout: "2 days",
      onTimeout: { escalateTo: { users: ["olivia"] }, timeout: "1 day" },
      reviewers: { users: ["grace", "henry"], quorum: 2 }
    })
    return decision.outcome
  })
)

export const Draft = Workflow.make({
  name: "announcement",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.Number,
  idempotencyKey: (payload) => payload.id
})

export const DraftLive = Draft.toLayer((payload) =>
  Effect.gen(function*() {
    const reviewed = yield* Approval.review("text", {
      produce: (feedback, revision) =>
        Effect.succeed({ text: revision === 1 ? "We ship on Monday." : `We ship on Tuesday (${feedback}).`, revision }),
      request: (output) => ({ title: `Announcement ${payload.id}`, reviewed: output, reviewers: { roles: ["finance"] } }),
      maxRevisions: 3
    })
    return reviewed.revision
  })
)

export const Expense = Workflow.make({
  name: "expense",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.Boolean,
  idempotencyKey: (payload) => payload.id
})

export const ExpenseLive = Expense.toLayer((payload) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("expense-check", {
      title: `Expense ${payload.id}`,
      onDeny: "continue",
      reviewers: { roles: ["finance"] }
    })
    return decision.approved
  })
)

export const tokens = {
  grace: "grace-inbox-token-0123456789",
  henry: "henry-inbox-token-0123456789",
  olivia: "olivia-inbox-token-0123456789",
  mallory: "mallory-inbox-token-0123456789"
} as const

const auth = Schema.decodeUnknownSync(Authentication.AuthConfig)({
  tokens: [
    { id: "grace", roles: ["finance"], sha256: AuthenticationLive.hashToken(tokens.grace) },
    { id: "henry", roles: ["finance"], sha256: AuthenticationLive.hashToken(tokens.henry) },
    { id: "olivia", roles: ["operator"], sha256: AuthenticationLive.hashToken(tokens.olivia) },
    { id: "mallory", roles: ["support"], sha256: AuthenticationLive.hashToken(tokens.mallory) }
  ]
})

const workflows = Layer.mergeAll(RefundLive, BoardLive, DraftLive, ExpenseLive)

export type Dialect = "sqlite" | "pg"

export const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
export const pgAvailable = process.env.GATEHOUSE_PG !== "skip"

const engineFor = (dialect: Dialect) =>
  Effect.gen(function*() {
    if (dialect === "pg") {
      const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_inbox" })
      return Gatehouse.layerPg({ url, workflows, pollInterval: "200 millis", maxConnections: 8 }) as Layer.Layer<
        Gatehouse.Services,
        unknown
      >
    }
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-inbox-"))),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    )
    return Gatehouse.layerSqlite({ filename: path.join(dir, "gatehouse.db"), workflows, pollInterval: "200 millis" }) as Layer.Layer<
      Gatehouse.Services,
      unknown
    >
  })

export interface Running {
  readonly baseUrl: string
  /** Runs an engine effect against the server's engine. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, Gatehouse.Services>) => Promise<A>
  readonly close: () => Promise<void>
}

/** The engine and the server for one test. */
export const start = async (dialect: Dialect): Promise<Running> => {
  const scope = Effect.runSync(Scope.make())
  try {
    const context = await Effect.runPromise(
      Effect.gen(function*() {
        const engine = yield* engineFor(dialect)
        return yield* Layer.build(
          Server.layer({ port: 0, inbox: { publicUrl: "http://127.0.0.1" } }).pipe(
            Layer.provide(AuthenticationLive.layer(auth)),
            Layer.provideMerge(engine)
          )
        )
      }).pipe(Scope.extend(scope))
    )
    const address = Context.get(context, HttpServer.HttpServer).address as HttpServer.TcpAddress
    return {
      baseUrl: `http://127.0.0.1:${address.port}`,
      run: (effect) => Effect.runPromise(Effect.provide(effect, context as Context.Context<Gatehouse.Services>)),
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  } catch (error) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    throw error
  }
}

/** Polls `check` every 50 ms until it returns something other than undefined, for at most `seconds`. */
export const until = async <A>(what: string, check: () => Promise<A | undefined>, seconds = 60): Promise<A> => {
  const deadline = Date.now() + seconds * 1000
  let last: unknown
  for (;;) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A run's status, once it is one of `statuses`. */
export const runStatus = (running: Running, runId: string, statuses: ReadonlyArray<string>) =>
  until(`run ${runId} to be ${statuses.join(" or ")}`, async () => {
    const run = await running.run(Effect.flatMap(Workflows.Workflows, (client) => client.poll(runId)))
    return statuses.includes(run.status) ? run.status : undefined
  })

export const chromiumPath = process.env.GATEHOUSE_CHROMIUM ?? "/usr/bin/chromium"

export const launch = (): Promise<Browser> =>
  chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-default-apps",
      "--no-first-run",
      "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"
    ]
  })
