import { assert, describe, it } from "@effect/vitest"
import { Gatehouse, GatehouseTest, Run, Workflow, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { databaseUrl, type Engine, serve, tokens } from "./utils/fixtures.js"

/** Keyed by its order id; the key function throws for the order "boom". */
export const Order = Workflow.make({
  name: "sbn-order",
  payload: Schema.Struct({ orderId: Schema.String, amount: Schema.Number }),
  success: Schema.Number,
  idempotencyKey: (payload) => {
    if (payload.orderId === "boom") throw new Error("no key for order boom")
    return payload.orderId
  }
})

export const OrderLive = Order.toLayer((payload) => Effect.succeed(payload.amount))

/** No key of its own: `options.idempotencyKey` (HTTP `Idempotency-Key`) decides. */
export const Note = Workflow.make({ name: "sbn-note", payload: Schema.Struct({ text: Schema.String }) })

export const NoteLive = Note.toLayer(() => Effect.void)

/** Run by no layer of this process: startable by name only through `Server.layer({ workflows })`. */
export const Elsewhere = Workflow.make({
  name: "sbn-elsewhere",
  payload: Schema.Struct({ id: Schema.String }),
  idempotencyKey: (payload) => payload.id
})

const workflows = Layer.mergeAll(OrderLive, NoteLive)

interface Databases {
  readonly engine: Engine
  /** Only the client services, on the same database: no registry. */
  readonly client: Layer.Layer<Workflows.Workflows, unknown>
}

export const sqlite: Effect.Effect<Databases, never, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-sbn-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const filename = path.join(dir, "gatehouse.db")
  return {
    engine: Gatehouse.layerSqlite({ filename, workflows, pollInterval: "200 millis" }) as Engine,
    client: Gatehouse.layerClientSqlite({ filename })
  }
})

export const pg: Effect.Effect<Databases, unknown, Scope.Scope> = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_sbn" })
  return {
    engine: Gatehouse.layerPg({ url, workflows, pollInterval: "200 millis", maxConnections: 8 }) as Engine,
    client: Gatehouse.layerClientPg({ url, maxConnections: 2 })
  }
})

/** The error of a failed start, as its JSON on the wire. */
const wire = (error: { readonly _tag: string; readonly workflow: string; readonly reason?: string }) => ({
  _tag: error._tag,
  workflow: error.workflow,
  ...(error.reason === undefined ? {} : { reason: error.reason })
})

/** A start by code, by `Workflows.startByName` and over HTTP agree: same run id, same typed errors. */
export const suite = (name: string, makeDatabases: typeof sqlite | typeof pg) =>
  describe(name, () => {
    it.live("start by name: same payload, same run id and same typed errors by code, startByName and HTTP", () =>
      Effect.gen(function*() {
        const databases = yield* makeDatabases
        const server = yield* serve(databases.engine, { workflows: [Elsewhere] })
        const inProcess = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.provide(effect, server.context) as Effect.Effect<A, E>
        const post = (workflow: string, payload: unknown, headers: Record<string, string> = {}) =>
          server.fetch(`/v1/workflows/${workflow}/runs`, {
            method: "POST",
            token: tokens.operator,
            headers: { "content-type": "application/json", ...headers },
            body: JSON.stringify({ payload })
          }).pipe(Effect.flatMap((response) =>
            // A crash answers without a JSON body: its text stands in, so the assertion says what came back.
            Effect.map(Effect.promise(() => response.text()), (text): { status: number; body: any } => {
              try {
                return { status: response.status, body: JSON.parse(text) }
              } catch {
                return { status: response.status, body: text }
              }
            })
          ))
        const countRuns = (workflow: string) =>
          inProcess(Effect.map(
            Effect.flatMap(Workflows.Workflows, (client) => client.list({ workflow })),
            (page) => page.runs.length
          ))

        // A valid payload: one run id, whoever starts it.
        const payload = { orderId: "O-1", amount: 12 }
        const predicted = yield* Order.runIdFor(payload)
        assert.strictEqual(yield* inProcess(Workflows.runIdFor("sbn-order", payload)), predicted)
        const byCode = yield* inProcess(Order.start(payload))
        assert.strictEqual(byCode, predicted)
        const byName = yield* inProcess(Workflows.startByName("sbn-order", payload))
        assert.deepStrictEqual(byName, { runId: predicted, workflow: "sbn-order", created: false })
        const overHttp = yield* post("sbn-order", payload)
        assert.deepStrictEqual(overHttp, { status: 200, body: { runId: predicted, workflow: "sbn-order", created: false } })
        // First by HTTP, then by code: the same run too.
        const fresh = yield* post("sbn-order", { orderId: "O-2", amount: 3 })
        assert.deepStrictEqual([fresh.status, fresh.body.created], [201, true])
        assert.strictEqual(yield* inProcess(Order.start({ orderId: "O-2", amount: 3 })), fresh.body.runId)

        // A workflow without a key of its own: the idempotency key of the options is HTTP's `Idempotency-Key`.
        const note = yield* inProcess(Note.start({ text: "hi" }, { idempotencyKey: "N-1" }))
        const noteByName = yield* inProcess(Workflows.startByName("sbn-note", { text: "hi" }, { idempotencyKey: "N-1" }))
        const noteOverHttp = yield* post("sbn-note", { text: "hi" }, { "idempotency-key": "N-1" })
        assert.deepStrictEqual([noteByName.runId, noteOverHttp.status, noteOverHttp.body.runId], [note, 200, note])

        // Typed errors, the same three ways, and nothing written: a payload the schema refuses, and an
        // idempotency key function that throws (a crash of the server, a 500, before).
        const before = yield* countRuns("sbn-order")
        for (const bad of [{ orderId: "O-3", amount: "ten" }, { orderId: "boom", amount: 1 }]) {
          const byCodeError = yield* inProcess(Order.start(bad as any)).pipe(Effect.flip)
          assert.strictEqual(byCodeError._tag, "InvalidPayload")
          const expected = wire(byCodeError as Run.InvalidPayload)
          assert.deepStrictEqual(wire((yield* Order.runIdFor(bad as any).pipe(Effect.flip))), expected)
          assert.deepStrictEqual(wire((yield* inProcess(Workflows.runIdFor("sbn-order", bad)).pipe(Effect.flip)) as any), expected)
          assert.deepStrictEqual(
            wire((yield* inProcess(Workflows.startByName("sbn-order", bad)).pipe(Effect.flip)) as any),
            expected
          )
          assert.deepStrictEqual(yield* post("sbn-order", bad), { status: 400, body: expected })
        }
        assert.include((yield* Order.runIdFor({ orderId: "boom", amount: 1 }).pipe(Effect.flip)).reason, "no key for order boom")
        assert.strictEqual(yield* countRuns("sbn-order"), before)

        // A name this process does not know: WorkflowNotFound (404), nothing written.
        const unknown = yield* inProcess(Workflows.startByName("sbn-nope", {})).pipe(Effect.flip)
        assert.deepStrictEqual([unknown._tag, (unknown as Run.WorkflowNotFound).workflow], ["WorkflowNotFound", "sbn-nope"])
        assert.deepStrictEqual(yield* post("sbn-nope", {}), { status: 404, body: { _tag: "WorkflowNotFound", workflow: "sbn-nope" } })

        // A definition given to the server goes into the engine's registry: startable by name, same run id.
        const elsewhere = yield* post("sbn-elsewhere", { id: "E-1" })
        assert.deepStrictEqual([elsewhere.status, elsewhere.body.runId], [201, yield* Elsewhere.runIdFor({ id: "E-1" })])

        // A process with only the client services has no registry: a typed WorkflowNotFound, nothing written.
        const clientOnly = yield* Workflows.startByName("sbn-order", { orderId: "O-9", amount: 1 }).pipe(
          Effect.flip,
          Effect.provide(databases.client)
        )
        assert.strictEqual(clientOnly._tag, "WorkflowNotFound")
        assert.strictEqual(yield* countRuns("sbn-order"), before)
      }).pipe(Effect.scoped))
  })
