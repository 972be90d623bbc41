import { assert, describe, it } from "@effect/vitest"
import { Step, Workflow, Workflows } from "@gatehouse/engine"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type { TestDatabase } from "@gatehouse/test-utils/Database"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext, sideEffects } from "./utils/engine.js"

/** Waits, within a bound, until `check` holds. */
const waitUntil = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  check: (a: A) => boolean,
  what: string,
  bound: Duration.DurationInput
) =>
  effect.pipe(
    Effect.repeat({ until: check, schedule: Schedule.spaced("100 millis") }),
    Effect.timeoutFail({ duration: bound, onTimeout: () => new Error(`${what}: not reached in ${Duration.format(bound)}`) })
  )

const LongStep = Workflow.make({
  name: "lease-renewal-long-step",
  payload: Schema.Struct({ n: Schema.Number, stepMillis: Schema.Number }),
  success: Schema.Number,
  idempotencyKey: (payload) => `${payload.n}-${payload.stepMillis}`
})

// One step that outlives its lease several times over; every start of it is recorded.
const LongStepLive = LongStep.toLayer((payload, run) =>
  Effect.gen(function*() {
    yield* Step.run(
      "long",
      sideEffects.record(run.runId, "long").pipe(Effect.zipRight(Effect.sleep(Duration.millis(payload.stepMillis))))
    )
    return payload.n
  })
)

const takeoversOf = (db: TestDatabase, runId: string) =>
  Effect.scoped(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_events
      WHERE run_id = ${runId} AND type = 'run.taken-over'`
    const claims = yield* sql<{ claims: number }>`SELECT claims FROM gatehouse_runs WHERE id = ${runId}`
    return { takeovers: Number(rows[0].n), claims: Number(claims[0].claims) }
  }).pipe(Effect.provide(db.client())))

/** Two runners on one database, one run whose one step lasts `factor` leases: it runs once, never taken over. */
const stepOutlivesLease = (leaseDuration: Duration.DurationInput, stepMillis: number) =>
  Effect.gen(function*() {
    const db = yield* pg
    const options = { leaseDuration, pollInterval: "100 millis", concurrency: 4 } as const
    const first = yield* buildEngine(db, LongStepLive, { ...options, runnerId: "renew-1" })
    yield* buildEngine(db, LongStepLive, { ...options, runnerId: "renew-2" })
    yield* Effect.gen(function*() {
      yield* sideEffects.setup
      const runId = yield* LongStep.start({ n: 1, stepMillis })
      const workflows = yield* Workflows.Workflows
      yield* waitUntil(
        workflows.poll(runId),
        (run) => run.status === "completed" || run.status === "failed",
        "the run ended",
        Duration.sum(Duration.millis(stepMillis), Duration.seconds(60))
      )
      assert.strictEqual((yield* workflows.poll(runId)).status, "completed")
      assert.strictEqual(yield* sideEffects.count(runId, "long"), 1, "the step ran exactly once")
      assert.deepStrictEqual(yield* takeoversOf(db, runId), { takeovers: 0, claims: 1 })
    }).pipe(provideContext(first))
  })

describe.skipIf(!pgAvailable)("lease renewal (PostgreSQL)", () => {
  it.scopedLive("leases are renewed: a step 3 times a 1 s lease runs once, with no takeover", () =>
    stepOutlivesLease("1 second", 3_000), { timeout: 120_000 })

  it.scopedLive("leases are renewed: a step 3 times a 5 s lease runs once, with no takeover", () =>
    stepOutlivesLease("5 seconds", 15_000), { timeout: 120_000 })

  it.scopedLive.skipIf(process.env.GATEHOUSE_LONG_LEASE_TEST !== "1")(
    "leases are renewed: a 95 s step at the default 30 s lease runs once, with no takeover",
    () => stepOutlivesLease("30 seconds", 95_000),
    { timeout: 240_000 }
  )
})
