/**
 * `npm run demo`: a refund, end to end, on the embedded SQLite default.
 *
 * The run loads the customer and a recommendation as checkpointed steps, then waits for a finance
 * reviewer. While it waits nothing of it is in memory: the runner holds no fiber for it. A reviewer,
 * working from another connection (another process would do the same), reads the inbox and approves
 * a lower amount; the run resumes, pays, and waits again for the bank's confirmation, a durable
 * deferred completed from outside. Then the timeline, the events and the audit trail are printed.
 */
import { Approvals, Audit, DurableDeferred, Events, Gatehouse, GatehouseTest, Runner, Workflows } from "@gatehouse/engine"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { BankConfirmation, RefundReview, RefundReviewLive } from "./refund.js"

const filename = path.join(os.tmpdir(), "gatehouse-demo.db")
for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(filename + suffix, { force: true })

const time = (millis: number | undefined) => millis === undefined ? "" : new Date(millis).toISOString().slice(11, 23)

/** The reviewer's side: only the client services, on a connection of its own. */
const ReviewerLive = Gatehouse.layerClient.pipe(Layer.provideMerge(SqliteClient.layer({ filename })))

const showWaiting = (runId: string, waitingFor: string) =>
  Effect.gen(function*() {
    const run = yield* (yield* Workflows.Workflows).poll(runId)
    const held = yield* (yield* Runner.Runner).active
    yield* Console.log(`  run ${run.runId} is ${run.status} (${waitingFor})`)
    yield* Console.log(`  runs held in memory by the runner: ${held.length}`)
  })

const program = Effect.gen(function*() {
  yield* Console.log(`Gatehouse demo on SQLite file ${filename}\n`)
  yield* Console.log("1. Start the refund for ticket T-1001 (120 EUR)")
  const runId = yield* RefundReview.start({ ticketId: "T-1001", amount: 120 }, { startedBy: "support-desk" })
  yield* GatehouseTest.settle
  yield* showWaiting(runId, "waiting for a finance reviewer")

  yield* Console.log("\n2. The reviewer's inbox, from another connection")
  yield* Effect.gen(function*() {
    const approvals = yield* Approvals.Approvals
    const [entry] = (yield* approvals.list({ reviewer: { id: "grace", roles: ["finance"] } })).approvals
    yield* Console.log(`  ${entry.title}`)
    yield* Console.log(`  ${entry.summary}`)
    yield* Console.log(`  metadata: ${JSON.stringify(entry.metadata)}  reviewed: ${JSON.stringify(entry.reviewed)}`)
    yield* Console.log(`  request hash ${entry.requestHash.slice(0, 16)}…, deadline ${new Date(entry.deadline!).toISOString()}`)
    yield* Console.log("\n3. grace (finance) approves 100 EUR, quoting the request hash she saw")
    const result = yield* approvals.decide({
      runId,
      nodeId: "refund-decision",
      verdict: "approve",
      by: { id: "grace", roles: ["finance"] },
      note: "Goodwill refund, minus shipping.",
      payload: { approvedAmount: 100 },
      requestHash: entry.requestHash
    })
    yield* Console.log(`  → ${result.status}`)
    const again = yield* approvals.decide({
      runId,
      nodeId: "refund-decision",
      verdict: "approve",
      by: { id: "grace", roles: ["finance"] },
      note: "Goodwill refund, minus shipping.",
      payload: { approvedAmount: 100 }
    })
    yield* Console.log(`  the same decision sent twice → ${again.status}`)
  }).pipe(Effect.provide(ReviewerLive))

  yield* GatehouseTest.settle
  yield* Console.log("\n4. The runner replayed the run: it paid, and now waits for the bank")
  yield* showWaiting(runId, "waiting for the durable deferred bank-confirmation")

  yield* Console.log("\n5. The bank's webhook completes the deferred, from another connection")
  const sent = yield* DurableDeferred.succeed({ runId, deferred: BankConfirmation }, { reference: "BANK-7781" }).pipe(
    Effect.provide(ReviewerLive)
  )
  yield* Console.log(`  → ${sent}`)
  const outcome = yield* RefundReview.execute({ ticketId: "T-1001", amount: 120 })
  yield* Console.log(`  result: ${JSON.stringify(outcome)}`)

  const workflows = yield* Workflows.Workflows
  const inspection = yield* workflows.inspect(runId)
  yield* Console.log(`\n6. Timeline of ${runId} (claimed ${inspection.run.claims} times; every replay skipped done work)`)
  for (const node of inspection.nodes) {
    yield* Console.log(
      `  ${time(node.startedAt)} → ${time(node.completedAt).padEnd(12)} ${node.kind.padEnd(9)} ${node.nodeId.padEnd(18)} ${node.status}`
    )
  }
  yield* Console.log("\n7. Events (the outbox)")
  for (const event of yield* (yield* Events.Events).read({ runId })) {
    yield* Console.log(`  ${time(event.createdAt)}  ${event.type}${event.actor ? ` by ${event.actor}` : ""}`)
  }
  yield* Console.log("\n8. Audit trail (hash-chained)")
  for (const entry of yield* Audit.forRun(runId)) {
    yield* Console.log(
      `  #${entry.seq} ${entry.action.padEnd(18)} ${entry.actor.padEnd(22)} hash ${entry.hash.slice(0, 12)}…` +
        `${entry.note ? `  "${entry.note}"` : ""}`
    )
  }
  const verification = yield* Audit.verify
  yield* Console.log(`  verify: ${verification.valid ? `valid (${verification.entries} entries)` : "BROKEN"}`)
})

program.pipe(
  Effect.provide(Gatehouse.layerSqlite({ filename, workflows: RefundReviewLive, pollInterval: "200 millis" })),
  Logger.withMinimumLogLevel(LogLevel.Warning),
  Effect.runPromise
).catch((error) => {
  console.error(error)
  process.exit(1)
})
