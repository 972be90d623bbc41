import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { DurableDeferred, GatehouseTest, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { sideEffects, withEngine } from "./utils/engine.js"

class Overdrawn extends Schema.TaggedError<Overdrawn>()("Overdrawn", { account: Schema.String }) {}

const Go = DurableDeferred.make("go")

const Booking = Workflow.make({
  name: "tx-booking",
  payload: Schema.Struct({ id: Schema.String, mode: Schema.Literal("ok", "fail", "steal") }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

let attempts = 0

const BookingLive = Booking.toLayer((payload, run) =>
  Effect.gen(function*() {
    const booked = yield* Step.transaction(
      "book",
      Effect.gen(function*() {
        attempts++
        yield* sideEffects.record(run.runId, `book#${attempts}`)
        if (payload.mode === "fail") return yield* new Overdrawn({ account: payload.id })
        if (payload.mode === "steal" && attempts === 1) {
          // Another runner takes the lease away before the checkpoint: the fenced checkpoint writes nothing,
          // and the ledger entry must roll back with it.
          const sql = yield* SqlClient.SqlClient
          yield* sql`UPDATE gatehouse_runs SET lease_owner = ${"someone-else"} WHERE id = ${run.runId}`.pipe(Effect.orDie)
        }
        return `booked#${attempts}`
      }),
      { success: Schema.String, error: Overdrawn }
    ).pipe(Effect.catchTag("Overdrawn", (error) => Effect.succeed(`overdrawn:${error.account}`)))
    yield* DurableDeferred.await(Go)
    return booked
  })
)

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    it.scoped("the effect's writes commit with the checkpoint and are not repeated on replay", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        attempts = 0
        const runId = yield* withEngine(db, BookingLive, Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Booking.start({ id: "b-1", mode: "ok" })
          yield* GatehouseTest.settle
          return runId
        }))
        // A new engine (another process) replays the run from its journal.
        yield* withEngine(db, BookingLive, Effect.gen(function*() {
          yield* DurableDeferred.succeed({ runId, deferred: Go }, undefined)
          assert.deepStrictEqual(yield* Booking.result(runId), Exit.succeed("booked#1"))
          assert.deepStrictEqual(yield* sideEffects.labels(runId), ["book#1"])
          assert.strictEqual(attempts, 1)
        }))
      }))

    it.scoped("a failure rolls the effect's writes back and is itself recorded once", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        attempts = 0
        const runId = yield* withEngine(db, BookingLive, Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Booking.start({ id: "b-2", mode: "fail" })
          yield* GatehouseTest.settle
          return runId
        }))
        yield* withEngine(db, BookingLive, Effect.gen(function*() {
          yield* DurableDeferred.succeed({ runId, deferred: Go }, undefined)
          assert.deepStrictEqual(yield* Booking.result(runId), Exit.succeed("overdrawn:b-2"))
          assert.deepStrictEqual(yield* sideEffects.labels(runId), [])
          assert.strictEqual(attempts, 1)
          const node = (yield* (yield* Workflows.Workflows).inspect(runId)).nodes.find((node) => node.nodeId === "book")!
          assert.strictEqual((node.exit as any)._tag, "Failure")
        }))
      }))

    it.scoped("a checkpoint refused by the lease fence rolls back the effect's writes", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        attempts = 0
        yield* withEngine(db, BookingLive, Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Booking.start({ id: "b-3", mode: "steal" })
          yield* GatehouseTest.settle
          yield* DurableDeferred.succeed({ runId, deferred: Go }, undefined)
          // The first attempt lost its lease and wrote nothing; the run was given back and replayed.
          assert.deepStrictEqual(yield* Booking.result(runId), Exit.succeed("booked#2"))
          assert.deepStrictEqual(yield* sideEffects.labels(runId), ["book#2"])
          assert.strictEqual(attempts, 2)
        }))
      }))
  })
