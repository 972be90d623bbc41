import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Approval, Approvals, Audit, GatehouseTest, Workflow } from "@gatehouse/engine"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"
import { buildClient, buildEngine, provideContext } from "./utils/engine.js"

const Gate = Workflow.make({
  name: "audit-gate",
  payload: Schema.Struct({ id: Schema.String }),
  idempotencyKey: (payload) => payload.id
})

const GateLive = Gate.toLayer(() =>
  Approval.request("gate", { title: "Go?", reviewers: { users: ["rev"] } }).pipe(Effect.asVoid)
)

describe.skipIf(!pgAvailable)("the audit chain, linked after commit (PostgreSQL)", () => {
  it.scoped("concurrent requests and decisions from two processes make one chain: every entry linked once, in order", () =>
    Effect.gen(function*() {
      const db = yield* pg
      const engine = yield* buildEngine(db, GateLive, { concurrency: 32 })
      // Another process: a client on its own connections (`Gatehouse.layerClient` provides `Approvals` too).
      const other = (yield* buildClient(db)) as Context.Context<Approvals.Approvals | Audit.Audit | SqlClient.SqlClient>
      const runIds = yield* Gate.startMany(Array.from({ length: 40 }, (_, n) => ({ id: `g-${n}` }))).pipe(
        provideContext(engine)
      )
      yield* GatehouseTest.settle.pipe(provideContext(engine))
      // Half decided here, half by another process, all at once.
      yield* Effect.forEach(runIds, (runId, n) => {
        const decide = Effect.flatMap(Approvals.Approvals, (approvals) =>
          approvals.decide({ runId, nodeId: "gate", verdict: "approve", by: "rev" }))
        return n % 2 === 0 ? decide.pipe(provideContext(engine)) : decide.pipe(Effect.provide(other))
      }, { concurrency: "unbounded", discard: true })
      const verification = yield* Audit.verify.pipe(Effect.provide(other))
      // A request and a decision per run.
      assert.deepStrictEqual(verification, { valid: true, entries: 80 })
      const sql = (yield* SqlClient.SqlClient.pipe(Effect.provide(other))).withoutTransforms()
      const unlinked = yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_audit WHERE hash IS NULL`
      assert.strictEqual(Number(unlinked[0].n), 0)
      const entries = yield* Audit.forRun(runIds[7]).pipe(Effect.provide(other))
      assert.deepStrictEqual(entries.map((entry) => entry.action), ["approval.requested", "approval.decided"])
    }))

  it.scoped("an entry left unlinked by a process that died after its commit is linked by the next reader", () =>
    Effect.gen(function*() {
      const db = yield* pg
      const engine = yield* buildEngine(db, GateLive)
      const runId = yield* Gate.start({ id: "left" }).pipe(provideContext(engine))
      yield* GatehouseTest.settle.pipe(provideContext(engine))
      const other = (yield* buildClient(db)) as Context.Context<Audit.Audit | SqlClient.SqlClient>
      const sql = (yield* SqlClient.SqlClient.pipe(Effect.provide(other))).withoutTransforms()
      // What a transaction leaves when its process dies before the link: the entry, with no hashes yet.
      yield* sql`INSERT INTO gatehouse_audit (run_id, node_id, action, actor, note, created_at)
        VALUES (${runId}, 'gate', 'approval.commented', 'rev', 'left unlinked', 1)`
      const verification = yield* Audit.verify.pipe(Effect.provide(other))
      assert.deepStrictEqual(verification, { valid: true, entries: 2 })
      const entries = yield* Audit.forRun(runId).pipe(Effect.provide(other))
      assert.deepStrictEqual(entries.map((entry) => entry.note), [undefined, "left unlinked"])
      assert.strictEqual(entries[1].prevHash, entries[0].hash)
    }))
})
