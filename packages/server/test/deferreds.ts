import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { DurableDeferred, Gatehouse, GatehouseTest, Step, Workflow } from "@gatehouse/engine"
import { AuthenticationLive } from "@gatehouse/server"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { authConfig, databaseUrl, type Engine, eventually, serve, tokens } from "./utils/fixtures.js"

export const BankConfirmation = DurableDeferred.make("bank-confirmation", {
  success: Schema.Struct({ reference: Schema.String, amount: Schema.Number }),
  error: Schema.Struct({ code: Schema.String })
})

export const Payout = Workflow.make({
  name: "payout",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

export const PayoutLive = Payout.toLayer((payload) =>
  Effect.gen(function*() {
    yield* Step.run("prepare", Effect.succeed(payload.id), { success: Schema.String })
    return yield* DurableDeferred.await(BankConfirmation).pipe(
      Effect.map((confirmed) => `paid ${confirmed.amount} as ${confirmed.reference}`),
      Effect.catchAll((error) => Effect.succeed(`declined: ${error.code}`))
    )
  })
)

export const Go = DurableDeferred.make("go")

export const EarlyConfirmation = DurableDeferred.make("early-confirmation", {
  success: Schema.Struct({ reference: Schema.String, amount: Schema.Number })
})

/** Awaits `go` first: its `early-confirmation` can be completed before the run awaits it. */
export const Early = Workflow.make({
  name: "early",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

export const EarlyLive = Early.toLayer(() =>
  Effect.gen(function*() {
    yield* DurableDeferred.await(Go)
    const confirmed = yield* DurableDeferred.await(EarlyConfirmation)
    return `early ${confirmed.reference}`
  })
)

const workflows = Layer.mergeAll(PayoutLive, EarlyLive)

const bankToken = "bank-token-0123456789abcdef"

const auth = {
  tokens: [
    ...authConfig.tokens,
    { id: "bank", roles: ["deferreds"], sha256: AuthenticationLive.hashToken(bankToken) }
  ]
}

export const sqliteEngine = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-deferreds-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  return Gatehouse.layerSqlite({
    filename: path.join(dir, "gatehouse.db"),
    workflows,
    pollInterval: "200 millis"
  }) as Engine
})

export const pgEngine = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_deferreds" })
  return Gatehouse.layerPg({ url, workflows, pollInterval: "200 millis", maxConnections: 8 }) as Engine
})

/** Completing a durable deferred over HTTP, on one dialect. */
export const suite = (name: string, makeEngine: typeof sqliteEngine | typeof pgEngine) =>
  describe(name, () => {
    it.live("POST /v1/runs/{runId}/deferreds/{name}: validated against the stored schema, errors mapped", () =>
      Effect.gen(function*() {
        const engine = yield* makeEngine
        const server = yield* serve(engine, { workflows: [Payout, Early] }, auth)
        const operator = yield* server.client(tokens.operator)
        const bank = yield* server.client(bankToken)
        const post = (runId: string, deferred: string, body: unknown, token: string | null = bankToken) =>
          server.fetch(`/v1/runs/${encodeURIComponent(runId)}/deferreds/${encodeURIComponent(deferred)}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
            ...(token === null ? {} : { token })
          }).pipe(Effect.flatMap((response) =>
            Effect.promise(() => response.json().catch(() => null)).pipe(
              Effect.map((json) => ({ status: response.status, body: json as any }))
            )
          ))

        const started = yield* operator.runs.start({ path: { name: "payout" }, payload: { payload: { id: "P-1" } }, headers: {} })
        const runId = started.runId
        yield* eventually(
          operator.runs.timeline({ path: { runId } }).pipe(
            Effect.filterOrFail(
              (timeline) => timeline.nodes.some((node) => node.nodeId === "bank-confirmation" && node.status === "waiting"),
              () => "not yet awaited"
            )
          )
        )
        // The await stored the deferred's JSON Schema with its node.
        const sql = Context.get(server.context, SqlClient.SqlClient)
        const stored = yield* sql<{ json_schema: string | null }>`SELECT json_schema FROM gatehouse_nodes
          WHERE run_id = ${runId} AND node_id = 'bank-confirmation'`
        const schema = JSON.parse(stored[0].json_schema ?? "null")
        assert.deepStrictEqual(schema.success.required, ["reference", "amount"])
        assert.deepStrictEqual(schema.failure.required, ["code"])

        const good = { success: { reference: "R-1", amount: 40 } }
        assert.strictEqual((yield* post(runId, "bank-confirmation", good, null)).status, 401)
        const forbidden = yield* post(runId, "bank-confirmation", good, tokens.mallory)
        assert.deepStrictEqual([forbidden.status, forbidden.body._tag], [403, "Forbidden"])

        const invalid = yield* post(runId, "bank-confirmation", { success: { reference: "R-1", amount: "forty" } })
        assert.deepStrictEqual([invalid.status, invalid.body._tag], [400, "InvalidPayload"])
        assert.include(invalid.body.reason, "success/amount must be number")
        assert.strictEqual(invalid.body.deferred, "bank-confirmation")
        const invalidFailure = yield* post(runId, "bank-confirmation", { failure: { code: 7 } })
        assert.deepStrictEqual([invalidFailure.status, invalidFailure.body._tag], [400, "InvalidPayload"])
        assert.include(invalidFailure.body.reason, "failure/code must be string")
        const badShape = yield* post(runId, "bank-confirmation", { neither: 1 })
        assert.strictEqual(badShape.status, 400)

        const unknownRun = yield* post("no-such-run", "bank-confirmation", good)
        assert.deepStrictEqual([unknownRun.status, unknownRun.body._tag], [404, "RunNotFound"])
        const notReady = yield* post(runId, "not-awaited-yet", good)
        assert.deepStrictEqual([notReady.status, notReady.body._tag], [409, "DeferredNotReady"])
        const mismatch = yield* post(runId, "prepare", good)
        assert.deepStrictEqual([mismatch.status, mismatch.body._tag], [409, "NodeKindMismatch"])

        // Nothing refused was stored.
        const timeline = yield* operator.runs.timeline({ path: { runId } })
        assert.deepStrictEqual(timeline.nodes.map((node) => [node.nodeId, node.status]), [
          ["prepare", "completed"],
          ["bank-confirmation", "waiting"]
        ])

        const completed = yield* bank.deferreds.complete({ path: { runId, name: "bank-confirmation" }, payload: good })
        assert.strictEqual(completed.status, "completed")
        const again = yield* bank.deferreds.complete({ path: { runId, name: "bank-confirmation" }, payload: good })
        assert.strictEqual(again.status, "already-completed")
        const run = yield* eventually(
          operator.runs.get({ path: { runId } }).pipe(
            Effect.filterOrFail((run) => run.status === "completed", () => "not yet completed")
          )
        )
        assert.deepStrictEqual(run.result, { _tag: "Success", value: "paid 40 as R-1" })
        const retried = yield* post(runId, "bank-confirmation", good)
        assert.deepStrictEqual([retried.status, retried.body.status], [200, "already-completed"])
        const ended = yield* post(runId, "not-awaited-yet", good)
        assert.deepStrictEqual([ended.status, ended.body._tag], [409, "RunNotActive"])

        // A failure: the await fails with the error, validated against the error's schema.
        const declined = yield* operator.runs.start({ path: { name: "payout" }, payload: { payload: { id: "P-2" } }, headers: {} })
        yield* eventually(
          operator.runs.timeline({ path: { runId: declined.runId } }).pipe(
            Effect.filterOrFail(
              (timeline) => timeline.nodes.some((node) => node.nodeId === "bank-confirmation"),
              () => "not yet awaited"
            )
          )
        )
        const failed = yield* operator.deferreds.complete({
          path: { runId: declined.runId, name: "bank-confirmation" },
          payload: { failure: { code: "insufficient-funds" } }
        })
        assert.strictEqual(failed.status, "completed")
        const declinedRun = yield* eventually(
          operator.runs.get({ path: { runId: declined.runId } }).pipe(
            Effect.filterOrFail((run) => run.status === "completed", () => "not yet completed")
          )
        )
        assert.deepStrictEqual(declinedRun.result, { _tag: "Success", value: "declined: insufficient-funds" })
      }).pipe(Effect.scoped))

    it.live("a completion before the run awaits is validated against the deferred declared in this process", () =>
      Effect.gen(function*() {
        const engine = yield* makeEngine
        const server = yield* serve(engine, { workflows: [Payout, Early] }, auth)
        const operator = yield* server.client(tokens.operator)
        const bank = yield* server.client(bankToken)
        const { runId } = yield* operator.runs.start({ path: { name: "early" }, payload: { payload: { id: "E-1" } }, headers: {} })
        yield* eventually(
          operator.runs.timeline({ path: { runId } }).pipe(
            Effect.filterOrFail((timeline) => timeline.nodes.some((node) => node.nodeId === "go"), () => "not yet awaited")
          )
        )
        const refused = yield* bank.deferreds.complete({
          path: { runId, name: "early-confirmation" },
          payload: { success: { reference: "R-9" } }
        }).pipe(Effect.flip)
        assert.strictEqual(refused._tag, "InvalidPayload")
        assert.include((refused as { readonly reason: string }).reason, "amount")
        const early = yield* bank.deferreds.complete({
          path: { runId, name: "early-confirmation" },
          payload: { success: { reference: "R-9", amount: 1 } }
        })
        assert.strictEqual(early.status, "completed")
        // A void deferred accepts any JSON value (null here): its schema says nothing of the value.
        assert.strictEqual((yield* bank.deferreds.complete({ path: { runId, name: "go" }, payload: { success: null } })).status, "completed")
        const run = yield* eventually(
          operator.runs.get({ path: { runId } }).pipe(
            Effect.filterOrFail((run) => run.status === "completed", () => "not yet completed")
          )
        )
        assert.deepStrictEqual(run.result, { _tag: "Success", value: "early R-9" })
      }).pipe(Effect.scoped))
  })
