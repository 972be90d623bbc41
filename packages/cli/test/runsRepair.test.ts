/**
 * `gatehouse runs resume` and `gatehouse runs fork` (issue 21): on a SQLite file with `gatehouse worker`
 * running the release pipeline, a canceled run resumed from the terminal goes on from where it stopped
 * (its QA decision reused, the production approval the cancel closed asked again) and a fork runs again
 * from a node; against a real `gatehouse serve` a reviewer's token may do neither (exit 6) and an operator
 * forks with a new payload the server's workflow code validates.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import { eventually, gatehouse, ok, okJson } from "./utils/cli.js"
import { databaseTarget, serverTarget, tempDir } from "./utils/targets.js"
import type { Target } from "./scenario.js"

const exitCodes = { invalidInput: 2, notFound: 3, conflict: 4, notAuthorized: 6 }

/** Waits until the run waits on `nodeId` (and returns that approval). */
const waitingOn = (read: ReadonlyArray<string>, runId: string, nodeId: string) =>
  eventually(`${runId} waiting on ${nodeId}`, async () => {
    const why = await okJson(["why", runId, ...read])
    return why.blockers.some((blocker: any) => blocker.nodeId === nodeId) ? why : undefined
  })

const statusOf = async (read: ReadonlyArray<string>, runId: string): Promise<string> =>
  (await okJson(["runs", "inspect", runId, ...read])).run.status

const ended = (read: ReadonlyArray<string>, runId: string, status: string) =>
  eventually(`${runId} ${status}`, async () => (await statusOf(read, runId)) === status ? true : undefined)

describe("gatehouse runs resume / fork on a SQLite file", () => {
  let target: Target
  const read = () => [...target.connection]
  beforeAll(async () => {
    const temp = tempDir()
    target = await databaseTarget(path.join(temp.dir, "gatehouse.db"), temp.remove)
  }, 300_000)
  afterAll(async () => {
    await target?.stop()
  }, 120_000)

  /** The run the resume test repaired (completed), which the fork test forks. */
  let repaired: string | undefined

  it("resume a canceled run: refused while it waits, then it goes on, its QA decision reused", async () => {
    const runId = await target.startRun("release-pipeline", { version: `3.${randomUUID().slice(0, 8)}` })
    await waitingOn(read(), runId, "qa-approval")
    await ok(["approve", runId, "--node", "qa-approval", "--note", "QA passed", ...read(), "--as", "quinn", "--role", "qa"])
    await waitingOn(read(), runId, "prod-approval")

    // Waiting: not resumable (a conflict), nothing changed.
    const early = await gatehouse(["runs", "resume", runId, "--reason", "too early", ...read()])
    assert.strictEqual(early.code, exitCodes.conflict, early.stderr)
    assert.include(early.stderr, "waiting-approval")
    assert.include(early.stderr, "runs fork")
    const missingReason = await gatehouse(["runs", "resume", runId, ...read()])
    assert.strictEqual(missingReason.code, exitCodes.invalidInput)
    assert.include(missingReason.stderr, "runs resume needs --reason")
    const unknown = await gatehouse(["runs", "resume", "no-such-run", "--reason", "x", ...read(), "--json"])
    assert.strictEqual(unknown.code, exitCodes.notFound)
    assert.strictEqual(JSON.parse(unknown.stderr).error.kind, "not-found")

    await ok(["runs", "cancel", runId, "--reason", "wrong window", ...read()])
    const resumed = await ok(["runs", "resume", runId, "--reason", "canceled by mistake", ...read()])
    assert.match(resumed, new RegExp(`^resumed: run ${runId} \\(\\S+; runs again: `, "m"))
    assert.include(resumed, "prod-approval")

    // The production approval the cancel closed is asked again, showing why; QA is not.
    await waitingOn(read(), runId, "prod-approval")
    const prod = await okJson(["approvals", "show", runId, "--node", "prod-approval", ...read()])
    assert.strictEqual(prod.status, "waiting-approval")
    assert.deepStrictEqual(prod.previous?.reasons, ["it was canceled"])
    const qa = await okJson(["approvals", "show", runId, "--node", "qa-approval", ...read()])
    assert.strictEqual(qa.status, "approved")
    assert.strictEqual(qa.decision.decidedBy, "quinn")
    await ok(["approve", runId, "--node", "prod-approval", ...read(), "--as", "rosa", "--role", "release-managers"])
    await ended(read(), runId, "completed")
    const inspection = await okJson(["runs", "inspect", runId, ...read()])
    assert.strictEqual(inspection.run.repairs, 1)
    assert.isTrue(inspection.events.some((event: any) => event.type === "run.resumed" && event.actor.startsWith("cli")))

    // Completed: not resumable.
    const again = await gatehouse(["runs", "resume", runId, "--reason", "again", ...read(), "--json"])
    assert.strictEqual(again.code, exitCodes.conflict)
    assert.strictEqual(JSON.parse(again.stderr).error.kind, "conflict")
    repaired = runId
  }, 300_000)

  it("fork from a node: an unknown node exits 2, a new payload needs the workflow's code; the two runs name each other", async () => {
    assert.isDefined(repaired, "the resume test ran first")
    const runId = repaired!
    // Fork: an unknown node is invalid input naming --from's field; a new payload needs the workflow's code.
    const badNode = await gatehouse(["runs", "fork", runId, "--reason", "redo", "--from", "nope", ...read()])
    assert.strictEqual(badNode.code, exitCodes.invalidInput)
    assert.include(badNode.stderr, "fromNode")
    const notJson = await gatehouse(["runs", "fork", runId, "--reason", "redo", "--payload", "{not json", ...read()])
    assert.strictEqual(notJson.code, exitCodes.invalidInput)
    assert.include(notJson.stderr, "--payload")
    const noCode = await gatehouse(["runs", "fork", runId, "--reason", "redo", "--payload", "{\"version\":\"9\"}", ...read()])
    assert.strictEqual(noCode.code, exitCodes.notFound)
    assert.include(noCode.stderr, "--server URL")

    const forked = await okJson(["runs", "fork", runId, "--reason", "redeploy", "--from", "deploy-production", ...read()])
    assert.strictEqual(forked.runId, `${runId}.fork-1`)
    assert.deepStrictEqual(forked.run.forkedFrom, { runId, nodeId: "deploy-production" })
    // Every approval before the node still holds: the fork completes without a decision.
    await ended(read(), forked.runId, "completed")
    const shown = await ok(["runs", "inspect", forked.runId, ...read()])
    assert.match(shown, new RegExp(`forked from:\\s+${runId} \\(from node deploy-production\\)`))
    const origin = await okJson(["runs", "inspect", runId, ...read()])
    assert.deepStrictEqual(origin.run.forks, [forked.runId])
    assert.strictEqual(origin.run.status, "completed")
    assert.match(await ok(["runs", "inspect", runId, ...read()]), new RegExp(`forks:\\s+${forked.runId.replaceAll(".", "\\.")}`))
  }, 300_000)
})

describe("gatehouse runs resume / fork against a real gatehouse serve", () => {
  let target: Target
  const operator = () => [...target.connection, ...target.reader]
  beforeAll(async () => {
    target = await serverTarget()
  }, 300_000)
  afterAll(async () => {
    await target?.stop()
  }, 120_000)

  it("a reviewer's token may not resume or fork (exit 6); an operator forks with a new payload", async () => {
    const version = `4.${randomUUID().slice(0, 8)}`
    const runId = await target.startRun("release-pipeline", { version })
    await waitingOn(operator(), runId, "qa-approval")

    for (const command of [["resume", runId, "--reason", "mine"], ["fork", runId, "--reason", "mine", "--from", "build"]]) {
      const refused = await gatehouse(["runs", ...command, ...target.connection, ...target.reviewer("quinn"), "--json"])
      assert.strictEqual(refused.code, exitCodes.notAuthorized, refused.stderr)
      assert.strictEqual(JSON.parse(refused.stderr).error.kind, "not-authorized")
    }

    const waiting = await gatehouse(["runs", "resume", runId, "--reason", "too early", ...operator()])
    assert.strictEqual(waiting.code, exitCodes.conflict, waiting.stderr)
    const badPayload = await gatehouse(["runs", "fork", runId, "--reason", "x", "--payload", "{\"version\":4}", ...operator()])
    assert.strictEqual(badPayload.code, exitCodes.invalidInput)
    assert.include(badPayload.stderr, "version")
    const badNode = await gatehouse(["runs", "fork", runId, "--reason", "x", "--from", "nope", ...operator()])
    assert.strictEqual(badNode.code, exitCodes.invalidInput)
    assert.include(badNode.stderr, "fromNode")

    const forked = await ok(["runs", "fork", runId, "--reason", "next version", "--payload", `{"version":"${version}-b"}`, ...operator()])
    assert.match(forked, new RegExp(`^forked: run ${runId}\\.fork-1 from run ${runId} \\(from the start; `, "m"))
    const fork = await okJson(["runs", "inspect", `${runId}.fork-1`, ...operator()])
    assert.deepStrictEqual(fork.run.payload, { version: `${version}-b` })
    assert.deepStrictEqual(fork.run.forkedFrom, { runId, nodeId: "" })
    assert.strictEqual(fork.run.startedBy, (await okJson(["runs", "inspect", runId, ...operator()])).run.startedBy)
    await waitingOn(operator(), `${runId}.fork-1`, "qa-approval")
  }, 300_000)
})
