import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Approval, Approvals, GatehouseTest, Runner, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"

// GatehouseTest.restart: a user's test crashes the test kit's runner at a chosen point of a run and checks
// that the run resumes correctly on the fresh runner.

const Payout = Workflow.make({
  name: "test-kit-payout",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const attempts = { a: 0, b: 0, book: 0 }
// Opened by step "b" (and by "book") on its first attempt, which then hangs: the test crashes the runner there.
let inside = Deferred.unsafeMake<void>(undefined as never)
let hangInBook = false

const PayoutLive = Payout.toLayer((payload) =>
  Effect.gen(function*() {
    const a = yield* Step.run("a", Effect.sync(() => ++attempts.a), { success: Schema.Number })
    yield* Step.transaction(
      "book",
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO test_kit_ledger (id) VALUES (${payload.id})`
        attempts.book++
        if (hangInBook && attempts.book === 1) {
          yield* Deferred.succeed(inside, undefined)
          return yield* Effect.never
        }
      }).pipe(Effect.orDie)
    )
    const b = yield* Step.run(
      "b",
      Effect.gen(function*() {
        attempts.b++
        if (!hangInBook && attempts.b === 1) {
          yield* Deferred.succeed(inside, undefined)
          return yield* Effect.never
        }
        return 2
      }),
      { success: Schema.Number }
    )
    const decision = yield* Approval.request("release", { title: `Release ${payload.id}?`, onDeny: "continue" })
    return `${payload.id}:${a + b}:${decision.approved ? "released" : "held"}`
  })
)

const reset = (options: { readonly hangInBook: boolean }) =>
  Effect.gen(function*() {
    attempts.a = attempts.b = attempts.book = 0
    hangInBook = options.hangInBook
    inside = yield* Deferred.make<void>()
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE test_kit_ledger (id TEXT NOT NULL)`
  })

const approve = (runId: string) =>
  Effect.flatMap(Approvals.Approvals, (approvals) =>
    approvals.decide({ runId, nodeId: "release", verdict: "approve", by: "grace" }))

const ledger = (id: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ n: number }>`SELECT COUNT(*) AS n FROM test_kit_ledger WHERE id = ${id}`)
    .pipe(Effect.map((rows) => Number(rows[0].n)))

describe("GatehouseTest.restart", () => {
  it.effect("a crash inside a step: the completed step does not run again, the step in flight does, the run completes", () =>
    Effect.gen(function*() {
      yield* reset({ hangInBook: false })
      const crashed = (yield* Runner.Runner).runnerId
      const runId = yield* Payout.start({ id: "p-1" })
      yield* Deferred.await(inside)
      yield* GatehouseTest.restart
      const fresh = (yield* Runner.Runner).runnerId
      assert.notStrictEqual(fresh, crashed)
      yield* GatehouseTest.settle
      const workflows = yield* Workflows.Workflows
      assert.strictEqual((yield* workflows.poll(runId)).status, "waiting-approval")
      yield* approve(runId)
      assert.deepStrictEqual(yield* Payout.result(runId), Exit.succeed("p-1:3:released"))
      assert.deepStrictEqual(attempts, { a: 1, b: 2, book: 1 })
      const inspection = yield* workflows.inspect(runId)
      assert.deepStrictEqual(
        inspection.events.filter((event) => event.type === "run.taken-over").map((event) => event.actor),
        [fresh]
      )
      assert.strictEqual(inspection.run.claims, 3)
    }).pipe(Effect.provide(GatehouseTest.layer(PayoutLive))))

  it.effect("a crash inside Step.transaction commits nothing: the replayed transaction books once", () =>
    Effect.gen(function*() {
      yield* reset({ hangInBook: true })
      const runId = yield* Payout.start({ id: "p-2" })
      yield* Deferred.await(inside)
      // The transaction is open, the row inserted, the checkpoint not yet written: the crash rolls it back.
      yield* GatehouseTest.restart
      yield* GatehouseTest.settle
      yield* approve(runId)
      assert.deepStrictEqual(yield* Payout.result(runId), Exit.succeed("p-2:3:released"))
      assert.deepStrictEqual(attempts, { a: 1, b: 1, book: 2 })
      assert.strictEqual(yield* ledger("p-2"), 1)
    }).pipe(Effect.provide(GatehouseTest.layer(PayoutLive))))

  it.effect("a restart while the run waits on an approval: the decision resumes it on the fresh runner", () =>
    Effect.gen(function*() {
      yield* reset({ hangInBook: false })
      attempts.b = 1 // no hang
      const runId = yield* Payout.start({ id: "p-3" })
      yield* GatehouseTest.settle
      yield* GatehouseTest.restart
      yield* approve(runId)
      assert.deepStrictEqual(yield* Payout.result(runId), Exit.succeed("p-3:3:released"))
      assert.deepStrictEqual(attempts, { a: 1, b: 2, book: 1 })
    }).pipe(Effect.provide(GatehouseTest.layer(PayoutLive))))

  it.effect("restartWith({ expireLeases: false }): the crashed runner's lease holds until it expires", () =>
    Effect.gen(function*() {
      yield* reset({ hangInBook: false })
      const crashed = (yield* Runner.Runner).runnerId
      const runId = yield* Payout.start({ id: "p-4" })
      yield* Deferred.await(inside)
      yield* GatehouseTest.restartWith({ expireLeases: false })
      const workflows = yield* Workflows.Workflows
      yield* TestClock.adjust("29 seconds")
      const held = yield* workflows.poll(runId)
      assert.strictEqual(held.status, "running")
      assert.strictEqual(held.leaseOwner, crashed)
      yield* TestClock.adjust("2 seconds")
      yield* GatehouseTest.settle
      const taken = yield* workflows.poll(runId)
      assert.strictEqual(taken.status, "waiting-approval")
      assert.strictEqual(taken.takenOverFrom, crashed)
      yield* approve(runId)
      assert.deepStrictEqual(yield* Payout.result(runId), Exit.succeed("p-4:3:released"))
    }).pipe(Effect.provide(GatehouseTest.layer(PayoutLive, { leaseDuration: "30 seconds" }))))
})
