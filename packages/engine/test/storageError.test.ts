import { SqlError } from "@effect/sql/SqlError"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import { mapStorage } from "../src/internal/storageError.js"

describe("StorageError", () => {
  it.effect("a failed COMMIT (a SqlError defect from withTransaction) is a typed StorageError", () =>
    Effect.gen(function*() {
      const commit = Effect.die(new SqlError({ message: "COMMIT failed", cause: new Error("Connection terminated") }))
      const exit = yield* Effect.exit(mapStorage("Approvals.decide")(commit))
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      assert.isTrue(Cause.dieOption(exit.cause)._tag === "None")
      const error = Cause.failureOption(exit.cause)
      assert.strictEqual(error._tag === "Some" && error.value._tag, "StorageError")
      assert.include(error._tag === "Some" ? error.value.message : "", "Connection terminated")
      // A statement's failure, with the rollback's death after it, is one StorageError too.
      const both = Effect.failCause(
        Cause.sequential(
          Cause.fail(new SqlError({ message: "statement" })),
          Cause.die(new SqlError({ message: "rollback" }))
        )
      )
      const second = yield* Effect.flip(mapStorage("Workflows.cancel")(both))
      assert.strictEqual(second._tag, "StorageError")
      // Anything else passes through unchanged.
      const other = yield* Effect.flip(mapStorage("x")(Effect.fail({ _tag: "InvalidDecision" as const })))
      assert.strictEqual(other._tag, "InvalidDecision")
    }))
})
