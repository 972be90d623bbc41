/**
 * An application's set-up: the runner process takes its database and options from the environment
 * (`Gatehouse.layerConfig`: GATEHOUSE_DATABASE_URL, GATEHOUSE_PG_SCHEMA, GATEHOUSE_CONCURRENCY, …), and
 * the processes that only start, decide and read runs (an HTTP API, a CLI) use a client-only layer that
 * brings its own SQL client (`Gatehouse.layerClientSqlite` / `Gatehouse.layerClientPg`).
 *
 * Here both sides run in one process for the example, on a SQLite file (or on PostgreSQL: pass a
 * `postgres://…` URL in GATEHOUSE_DATABASE_URL, and GATEHOUSE_PG_SCHEMA). Run it with
 * `npm run example scratchpad/client-and-config.ts`; in an application, the runner side is a process of its own:
 * `Gatehouse.runMain(Gatehouse.layerConfig({ workflows: ExpenseLive }))`.
 */
import { Approval, Approvals, Gatehouse, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { isMain } from "./run.js"

export const Expense = Workflow.make({
  name: "expense-claim",
  payload: Schema.Struct({ claimId: Schema.String, amount: Schema.Number }),
  success: Schema.Struct({ claimId: Schema.String, paid: Schema.Number }),
  idempotencyKey: (payload) => payload.claimId
})

export const ExpenseLive = Expense.toLayer(({ amount, claimId }) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("manager", {
      title: `Pay ${amount} EUR for claim ${claimId}?`,
      onDeny: "continue",
      reviewers: { roles: ["managers"] }
    })
    const paid = decision.approved ? amount : 0
    yield* Step.run("pay", Effect.logInfo(`paying ${paid} EUR for ${claimId}`))
    return { claimId, paid }
  })
)

/** The runner side: everything from `Config` (here a map; in production the environment). */
export const runnerLayer = (env: Record<string, string>) =>
  Gatehouse.layerConfig({ workflows: ExpenseLive }).pipe(
    Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })))
  )

/** The client side: its own SQL client on the same database, no runner. */
export const clientLayer = (database: {
  readonly url: string
  readonly schema?: string | undefined
}): Layer.Layer<Gatehouse.ClientServices, unknown> => {
  const parsed = Gatehouse.parseDatabaseUrl(database.url)
  return parsed._tag === "Pg"
    ? Gatehouse.layerClientPg({ url: parsed.url, schema: database.schema, maxConnections: 2 })
    : Gatehouse.layerClientSqlite({ filename: parsed.filename })
}

/** A claim started and approved through the client, executed by the runner, its result read by the client. */
export const scenario = (database: { readonly url: string; readonly schema?: string | undefined }) =>
  Effect.gen(function*() {
    // Built in this scope, the runner executes runs until the scope closes.
    yield* Layer.build(runnerLayer({
      GATEHOUSE_DATABASE_URL: database.url,
      ...(database.schema !== undefined ? { GATEHOUSE_PG_SCHEMA: database.schema } : {}),
      GATEHOUSE_POLL_INTERVAL: "50 millis",
      GATEHOUSE_CONCURRENCY: "4"
    }))
    const client = yield* Layer.build(clientLayer(database))
    return yield* Effect.gen(function*() {
      const runId = yield* Expense.start({ claimId: "C-17", amount: 64 }, { startedBy: "sam" })
      const approvals = yield* Approvals.Approvals
      const reviewer = { id: "maria", roles: ["managers"] }
      // The runner, reached through the database only, puts the claim in the managers' inbox.
      const request = yield* approvals.list({ reviewer }).pipe(
        Effect.flatMap((page) => Effect.fromNullable(page.approvals.find((a) => a.runId === runId))),
        Effect.retry(Schedule.spaced("20 millis"))
      )
      const decided = yield* approvals.decide({
        runId,
        nodeId: request.nodeId,
        verdict: "approve",
        by: reviewer,
        requestHash: request.requestHash
      })
      const exit = yield* Expense.result(runId)
      const run = yield* (yield* Workflows.Workflows).poll(runId)
      return { decided: decided.status, status: run.status, outcome: Exit.isSuccess(exit) ? exit.value : null }
    }).pipe(Effect.provide(client))
  }).pipe(Effect.scoped)

if (isMain(import.meta.url)) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-example-"))
  const url = process.env.GATEHOUSE_DATABASE_URL ?? `sqlite:${path.join(dir, "app.db")}`
  scenario({ url, schema: process.env.GATEHOUSE_PG_SCHEMA }).pipe(
    Effect.tap((outcome) => Console.log(JSON.stringify(outcome, null, 2))),
    Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))),
    Effect.runPromise
  )
}
