/**
 * A worker process of the crash-torture test: `node --import tsx test/worker.ts`.
 *
 * `GATEHOUSE_WORKER_ROLE=runner` runs `Gatehouse.layerPg` with the torture workflow and short leases until
 * killed. `GATEHOUSE_WORKER_ROLE=decider` decides every waiting approval (even runs approved, odd denied),
 * some twice at once, and prints one JSON line per decide outcome count when it is asked to stop.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import { Approvals, Gatehouse } from "@gatehouse/engine"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { TortureLive } from "./tortureWorkflow.js"

const url = process.env.GATEHOUSE_URL!
const role = process.env.GATEHOUSE_WORKER_ROLE ?? "runner"
const worker = process.env.GATEHOUSE_WORKER_ID ?? `w-${process.pid}`

const runner = Layer.build(
  Gatehouse.layerPg({
    url,
    maxConnections: 6,
    workflows: TortureLive(worker),
    runnerId: worker,
    concurrency: 8,
    pollInterval: "500 millis",
    leaseDuration: "2 seconds",
    listenHeartbeat: "1 second"
  })
).pipe(
  // Tells the driver the runner is up, so that kills land on workers that hold runs.
  Effect.zipRight(Effect.sync(() => process.stdout.write("ready\n"))),
  Effect.zipRight(Effect.never),
  Effect.scoped
)

const counts = { decided: 0, alreadyDecided: 0, conflicts: 0, errors: 0 }

const decider = Effect.gen(function*() {
  const approvals = yield* Approvals.Approvals
  while (true) {
    const page = yield* approvals.list({ status: "waiting-approval", limit: 50 }).pipe(
      Effect.orElseSucceed(() => ({ approvals: [], cursor: undefined }))
    )
    yield* Effect.forEach(page.approvals, (approval) => {
      const n = (approval.metadata as { n: number }).n
      const decide = approvals.decide({
        runId: approval.runId,
        nodeId: approval.nodeId,
        verdict: n % 2 === 0 ? "approve" : "deny",
        by: "torture-reviewer"
      }).pipe(
        Effect.tap((result) =>
          Effect.sync(() => result.status === "decided" ? counts.decided++ : counts.alreadyDecided++)
        ),
        Effect.catchTag("DecisionConflict", () => Effect.sync(() => counts.conflicts++)),
        Effect.catchAll(() => Effect.sync(() => counts.errors++))
      )
      // Every third run is decided twice at once, as two reviewers clicking together would.
      return n % 3 === 0 ? Effect.all([decide, decide], { concurrency: 2, discard: true }) : decide
    }, { concurrency: 8, discard: true })
    yield* Effect.sleep(Duration.millis(page.approvals.length > 0 ? 20 : 100))
  }
}).pipe(
  Effect.provide(Gatehouse.layerClient.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 4 }))))
)

const program: Effect.Effect<unknown, unknown> = role === "decider" ? decider : runner
const fiber = Effect.runFork(program)
// A runner that could not start (PostgreSQL restarting) exits, so that the driver replaces it.
fiber.addObserver((exit) => {
  if (exit._tag === "Failure") {
    process.stderr.write(`worker ${worker} stopped: ${String(exit.cause)}\n`)
    process.exit(1)
  }
})
process.on("SIGTERM", () => {
  if (role === "decider") process.stdout.write(JSON.stringify(counts) + "\n")
  Effect.runFork(Fiber.interrupt(fiber)).addObserver(() => process.exit(0))
})
