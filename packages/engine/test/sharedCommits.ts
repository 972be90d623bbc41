import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { GatehouseTest, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { makeStore } from "../src/internal/storage/runs.js"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { sideEffects, withClient, withEngine } from "./utils/engine.js"

const Batch = Workflow.make({
  name: "batch",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.Number,
  idempotencyKey: (payload) => payload.id
})

// Three steps, each recording its execution: concurrent runs' checkpoints share commits.
const BatchLive = Batch.toLayer((payload, run) =>
  Effect.gen(function*() {
    let total = 0
    for (const label of ["one", "two", "three"]) {
      total += yield* Step.run(label, Effect.as(sideEffects.record(run.runId, label), payload.id.length), {
        success: Schema.Number
      })
    }
    return total
  })
)

const workflows = Workflows.Workflows

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    it.scoped("startMany starts a batch at once: each run once with one event, a repeated key finds its run", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withClient(db, Effect.gen(function*() {
          const existing = yield* Batch.start({ id: "b-0" })
          const payloads = [...Array.from({ length: 20 }, (_, n) => ({ id: `b-${n}` })), { id: "b-3" }]
          const runIds = yield* Batch.startMany(payloads)
          assert.strictEqual(runIds.length, 21)
          assert.strictEqual(runIds[0], existing)
          assert.strictEqual(runIds[20], runIds[3])
          for (const [index, runId] of runIds.entries()) {
            assert.strictEqual(runId, yield* Batch.start(payloads[index]), "the same id as a single start")
          }
          const page = yield* (yield* workflows).list({ workflow: "batch", limit: 100 })
          assert.strictEqual(page.runs.length, 20)
          // Read from the table: the outbox's readers wait for every older transaction on the server.
          const sql = (yield* SqlClient.SqlClient).withoutTransforms()
          const started = yield* sql<{ run_id: string; n: number | string }>`SELECT run_id, COUNT(*) AS n
            FROM gatehouse_events WHERE type = 'run.started' GROUP BY run_id`
          assert.deepStrictEqual(
            started.map((row) => [row.run_id, Number(row.n)]).sort(),
            Array.from(new Set(runIds)).map((runId) => [runId, 1]).sort()
          )
          // One invalid payload: the call fails and nothing is written.
          const bad = yield* Batch.startMany([{ id: "b-new" }, { id: 7 } as any]).pipe(Effect.flip)
          assert.strictEqual(bad._tag, "InvalidPayload")
          assert.strictEqual((yield* (yield* workflows).list({ workflow: "batch", limit: 100 })).runs.length, 20)
          assert.deepStrictEqual(yield* Batch.startMany([]), [])
        }))
      }))

    it.scoped("runs executing at once share commits: every step runs once and every run completes", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withEngine(
          db,
          BatchLive,
          Effect.gen(function*() {
            yield* sideEffects.setup
            const runIds = yield* Batch.startMany(Array.from({ length: 40 }, (_, n) => ({ id: `run-${n}` })))
            const exits = yield* Effect.forEach(runIds, (runId) => Batch.result(runId), { concurrency: "unbounded" })
            for (const [n, exit] of exits.entries()) assert.deepStrictEqual(exit, Exit.succeed(3 * `run-${n}`.length))
            for (const runId of runIds) {
              assert.deepStrictEqual(yield* sideEffects.labels(runId), ["one", "three", "two"])
              const inspection = yield* (yield* workflows).inspect(runId)
              assert.deepStrictEqual(inspection.nodes.map((node) => [node.nodeId, node.status]), [
                ["one", "completed"],
                ["two", "completed"],
                ["three", "completed"]
              ])
            }
            yield* GatehouseTest.settle
          }),
          { concurrency: 16 }
        )
      }))

    it.scoped("in a shared commit, a checkpoint whose lease was lost is not written and the others are", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withClient(db, Effect.gen(function*() {
          const store = makeStore(yield* SqlClient.SqlClient)
          const [mine, theirs, lost] = yield* Batch.startMany([{ id: "mine" }, { id: "theirs" }, { id: "lost" }])
          yield* store.claim({ owner: "runner-a", names: ["batch"], now: 1, leaseMillis: 60_000, limit: 3, executing: [] })
          // "theirs" is taken over by another runner, "lost" is canceled: runner-a holds only "mine".
          const sql = (yield* SqlClient.SqlClient).withoutTransforms()
          yield* sql`UPDATE gatehouse_runs SET lease_owner = 'runner-b' WHERE id = ${theirs}`
          // No runner executes it here: the cancel does not wait for runner-a's lease to run out.
          yield* (yield* workflows).cancel(lost, { by: "ops" }).pipe(
            Effect.provideService(Workflows.CancelWaitTimeout, "0 millis")
          )
          const node = (runId: string, nodeId: string) => ({
            runId,
            nodeId,
            kind: "step" as const,
            status: "completed" as const,
            exit: { _tag: "Success", value: 1 },
            attempt: 1,
            seq: 1,
            fireAt: undefined,
            now: 2
          })
          const written = yield* store.checkpointMany([
            { owner: "runner-a", node: node(theirs, "s") },
            { owner: "runner-a", node: node(mine, "s") },
            { owner: "runner-a", node: node(lost, "s") },
            { owner: "runner-a", node: node(mine, "t") }
          ])
          assert.deepStrictEqual(written, [false, true, false, true])
          assert.deepStrictEqual((yield* store.loadJournal(mine)).map((row) => row.nodeId), ["s", "t"])
          assert.deepStrictEqual(yield* store.loadJournal(theirs), [])
          assert.deepStrictEqual(yield* store.loadJournal(lost), [])
        }))
      }))

    it.scoped("shared suspensions and ends: each run's own fence, a wake during suspension, a run with open work", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withClient(db, Effect.gen(function*() {
          const store = makeStore(yield* SqlClient.SqlClient)
          const sql = (yield* SqlClient.SqlClient).withoutTransforms()
          const ids = yield* Batch.startMany(["s-1", "s-2", "s-3", "e-1", "e-2", "e-3"].map((id) => ({ id })))
          const claimed = yield* store.claim({ owner: "runner-a", names: ["batch"], now: 1, leaseMillis: 60_000, limit: 6, executing: [] })
          const wakeSeq = new Map(claimed.map((claim) => [claim.id, claim.wakeSeq]))
          const [s1, s2, s3, e1, e2, e3] = ids
          yield* sql`UPDATE gatehouse_runs SET lease_owner = 'runner-b' WHERE id IN (${s2}, ${e2})`
          // Woken while it suspends: it becomes runnable instead.
          yield* store.wake(s3, 1)
          const suspension = (runId: string) => ({
            runId,
            owner: "runner-a",
            wakeSeq: wakeSeq.get(runId)!,
            wakeAt: undefined,
            status: "waiting-approval" as const,
            now: 2
          })
          const stored = yield* store.suspendRuns([suspension(s3), suspension(s2), suspension(s1)])
          assert.deepStrictEqual(stored.map(Option.getOrUndefined), ["runnable", undefined, "waiting-approval"])
          // A run still waiting on a node ends in a transaction of its own that closes it.
          yield* store.ensureNode("runner-a", {
            runId: e3,
            nodeId: "timer",
            kind: "clock",
            status: "waiting",
            exit: undefined,
            attempt: 0,
            seq: 1,
            fireAt: 100,
            now: 2
          })
          const end = (runId: string) => ({
            runId,
            owner: "runner-a",
            status: "completed" as const,
            result: { _tag: "Success", value: 1 },
            error: undefined,
            now: 3
          })
          const ended = yield* store.finishRuns([end(e3), end(e2), end(e1)])
          assert.deepStrictEqual(ended.map((row) => Option.map(row, (run) => run.status).pipe(Option.getOrUndefined)), [
            "completed",
            undefined,
            "completed"
          ])
          assert.deepStrictEqual((yield* store.loadJournal(e3)).map((node) => node.status), ["canceled"])
          const completed = yield* sql<{ run_id: string }>`SELECT run_id FROM gatehouse_events WHERE type = 'run.completed'
            ORDER BY run_id`
          assert.deepStrictEqual(completed.map((row) => row.run_id), [e1, e3].sort())
        }))
      }))
  })
