import { assert, describe, it } from "@effect/vitest"
import { Gatehouse, Runner, Step, Workflow } from "@gatehouse/engine"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const Noop = Workflow.make({
  name: "runner-options-noop",
  payload: Schema.Struct({ n: Schema.Number }),
  idempotencyKey: (payload) => String(payload.n)
})

const NoopLive = Noop.toLayer(() => Step.run("noop", Effect.void))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-runner-options-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** Builds a whole engine on a SQLite file with these runner options: the error it refuses them with. */
const refusal = (options: Runner.RunnerOptions) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const filename = path.join(dir, "gatehouse.db")
    return yield* Layer.build(Gatehouse.layerSqlite({ filename, workflows: NoopLive, ...options })).pipe(Effect.flip)
  })

describe("runner options: leases a live runner could not keep are refused", () => {
  it.scoped("a lease shorter than the floor is refused with InvalidRunnerOptions naming leaseDuration", () =>
    Effect.gen(function*() {
      const error = yield* refusal({ leaseDuration: "500 millis" })
      assert.strictEqual(error._tag, "InvalidRunnerOptions")
      assert.strictEqual((error as Runner.InvalidRunnerOptions).field, "leaseDuration")
      assert.include(error.message, "at least 1s")
    }))

  it.scoped("a renew interval not below the lease is refused with InvalidRunnerOptions naming leaseRenewInterval", () =>
    Effect.gen(function*() {
      for (const leaseRenewInterval of ["10 seconds", "1 hour", "6 seconds"] as const) {
        const error = yield* refusal({ leaseDuration: "10 seconds", leaseRenewInterval })
        assert.strictEqual(error._tag, "InvalidRunnerOptions", leaseRenewInterval)
        assert.strictEqual((error as Runner.InvalidRunnerOptions).field, "leaseRenewInterval")
      }
      const zero = yield* refusal({ leaseRenewInterval: "0 millis" })
      assert.strictEqual((zero as Runner.InvalidRunnerOptions).field, "leaseRenewInterval")
      const infinite = yield* refusal({ leaseDuration: Duration.infinity })
      assert.strictEqual((infinite as Runner.InvalidRunnerOptions).field, "leaseDuration")
    }))

  it.effect("leaseTiming: the default renews every third of the lease; accepted settings pass through", () =>
    Effect.gen(function*() {
      const defaults = yield* Runner.leaseTiming({})
      assert.strictEqual(Duration.toMillis(defaults.lease), 30_000)
      assert.strictEqual(Duration.toMillis(defaults.renewEvery), 10_000)
      const short = yield* Runner.leaseTiming({ leaseDuration: "1 second" })
      assert.strictEqual(Duration.toMillis(short.renewEvery), 333)
      const half = yield* Runner.leaseTiming({ leaseDuration: "4 seconds", leaseRenewInterval: "2 seconds" })
      assert.strictEqual(Duration.toMillis(half.renewEvery), 2000)
    }))

  it.scoped("accepted options start a runner that runs work", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const context = yield* Layer.build(
        Gatehouse.layerSqlite({ filename: path.join(dir, "ok.db"), workflows: NoopLive, leaseDuration: "1 second" })
      )
      const runId = yield* Noop.start({ n: 1 }).pipe(Effect.provide(context))
      const result = yield* Noop.result(runId).pipe(Effect.provide(context), Effect.timeout("30 seconds"))
      assert.isTrue(result._tag === "Success")
    }))
})
