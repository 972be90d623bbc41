/**
 * `npm run demo`: a refund, end to end, on the embedded SQLite default.
 *
 * The run loads the customer and a recommendation as checkpointed steps, then waits for a finance
 * reviewer. While it waits nothing of it is in memory: the runner holds no fiber for it. A reviewer,
 * working from another connection (another process would do the same), reads the inbox and approves
 * a lower amount; the run resumes, pays, and waits again for the bank's confirmation, a durable
 * deferred completed from outside. Then the timeline, the events and the audit trail are printed.
 *
 * `npm run demo -- --serve [--port 8080]` stops at the approval instead and serves the HTTP API and the
 * reviewer inbox on the demo's database, printing two lines: `inbox: http://127.0.0.1:PORT/inbox` and
 * `token: TOKEN` (the finance reviewer grace's, made for this run and kept only as a hash by the
 * server). Open the page, sign in with the token, approve with a note and an amount: the run finishes
 * here, in this terminal. The server stays up until Ctrl-C.
 */
import { Approvals, Audit, DurableDeferred, Events, Gatehouse, GatehouseTest, Runner, Workflows } from "@gatehouse/engine"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpServer from "@effect/platform/HttpServer"
import { Authentication, AuthenticationLive, Server } from "@gatehouse/server"
import * as Context from "effect/Context"
import * as Schedule from "effect/Schedule"
import { createHash, randomBytes } from "node:crypto"
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

const startRefund = Effect.gen(function*() {
  yield* Console.log(`Gatehouse demo on SQLite file ${filename}\n`)
  yield* Console.log("1. Start the refund for ticket T-1001 (120 EUR)")
  const runId = yield* RefundReview.start({ ticketId: "T-1001", amount: 120 }, { startedBy: "support-desk" })
  yield* GatehouseTest.settle
  yield* showWaiting(runId, "waiting for a finance reviewer")
  return runId
})

const reviewInProcess = (runId: string) =>
  Effect.gen(function*() {
    yield* Console.log("\n2. The reviewer's inbox, from another connection")
    yield* reviewerDecides(runId)
  })

const reviewerDecides = (runId: string) =>
  Effect.gen(function*() {
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

const finish = (runId: string) =>
  Effect.gen(function*() {
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

const EngineLive = Gatehouse.layerSqlite({ filename, workflows: RefundReviewLive, pollInterval: "200 millis" })

/** `--port N` (default 8080; 0 picks a free port). */
const portOf = (argv: ReadonlyArray<string>): number => {
  const at = argv.indexOf("--port")
  if (at < 0) return 8080
  const value = argv[at + 1]
  const port = value !== undefined && /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!(port >= 0 && port <= 65535)) {
    process.stderr.write(`demo: --port must be a port number (0-65535), got ${JSON.stringify(value ?? "")}\n`)
    process.exit(2)
  }
  return port
}

/**
 * The refund up to its approval, then the API and the inbox on the demo's database: the person decides
 * in the browser and the run finishes here. The token is random, made for this run, and the server keeps
 * only its SHA-256.
 */
const serve = (port: number) =>
  Effect.gen(function*() {
    const runId = yield* startRefund
    const token = randomBytes(24).toString("base64url")
    const auth = Authentication.AuthConfig.make({
      tokens: [{ id: "grace", roles: ["finance"], sha256: createHash("sha256").update(token).digest("hex") }]
    })
    const server = yield* Layer.build(
      Server.layer({ port, workflows: [RefundReview] }).pipe(Layer.provide(AuthenticationLive.layer(auth)))
    )
    const address = Context.get(server, HttpServer.HttpServer).address
    const actual = address._tag === "TcpAddress" ? address.port : port
    yield* Console.log("\n2. The reviewer's inbox is a web page: sign in as grace (finance) with the token, and decide")
    yield* Console.log(`inbox: http://127.0.0.1:${actual}/inbox`)
    yield* Console.log(`token: ${token}`)
    const workflows = yield* Workflows.Workflows
    // The decision arrives through the server; the runner resumes the run on its own.
    yield* workflows.poll(runId).pipe(
      Effect.repeat({ until: (run) => run.status !== "waiting-approval", schedule: Schedule.spaced("250 millis") })
    )
    const decided = yield* (yield* Approvals.Approvals).get({ runId, nodeId: "refund-decision" })
    const decision = decided.decision as { decidedBy?: string; note?: string; payload?: unknown } | undefined
    yield* Console.log(
      `\n3. ${decided.status} in the browser by ${decision?.decidedBy ?? "?"}` +
        `${decision?.note ? ` ("${decision.note}")` : ""}${decision?.payload ? ` with ${JSON.stringify(decision.payload)}` : ""}`
    )
    yield* finish(runId)
    yield* Console.log(`\nThe run finished. The inbox stays up at http://127.0.0.1:${actual}/inbox (Ctrl-C stops it).`)
    return yield* Effect.never
  }).pipe(Effect.scoped)

const main: Effect.Effect<void, unknown, Gatehouse.Services> = process.argv.includes("--serve")
  ? serve(portOf(process.argv))
  : Effect.flatMap(startRefund, (runId) => Effect.zipRight(reviewInProcess(runId), finish(runId)))

main.pipe(
  Effect.provide(EngineLive),
  Logger.withMinimumLogLevel(LogLevel.Warning),
  NodeRuntime.runMain
)
