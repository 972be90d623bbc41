/**
 * The CLI's suite, written once and run against a SQLite file, a PostgreSQL schema (both with
 * `gatehouse worker` running the workflows) and a real `gatehouse serve` (cli.*.test.ts): the seeds'
 * release pipeline end to end from the terminal, the errors and their exit codes, and `events tail
 * --follow` seeing a decision made by another process.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { randomUUID } from "node:crypto"
import { background, eventually, gatehouse, ok, okJson } from "./utils/cli.js"

export interface Target {
  /** `--database URL` or `--server URL`. */
  readonly connection: ReadonlyArray<string>
  /** What a reader adds (an operator's token on a server; nothing on a database). */
  readonly reader: ReadonlyArray<string>
  /** What a reviewer adds to a decision: `--as ID --role R` on a database, their token on a server. */
  readonly reviewer: (who: "quinn" | "rosa" | "mallory") => ReadonlyArray<string>
  readonly startRun: (workflow: string, payload: unknown) => Promise<string>
  readonly kind: "database" | "server"
  readonly stop: () => Promise<void>
}

const exitCodes = { invalidInput: 2, notFound: 3, conflict: 4, stale: 5, notAuthorized: 6, unreachable: 7 }

export const suite = (name: string, setup: () => Promise<Target>) =>
  describe(name, () => {
    let target: Target
    const as = (who: "quinn" | "rosa" | "mallory") => [...target.connection, ...target.reviewer(who)]
    const read = () => [...target.connection, ...target.reader]

    beforeAll(async () => {
      target = await setup()
    }, 300_000)
    afterAll(async () => {
      await target?.stop()
    }, 120_000)

    it("runs the release pipeline from the terminal: list, approve QA, why, approve prod, inspect", async () => {
      const version = `1.4.${randomUUID().slice(0, 8)}`
      const runId = await target.startRun("release-pipeline", { version })

      const inbox = await eventually("the QA approval in the inbox", async () => {
        const page = await okJson(["approvals", "list", "--reviewer", "*", ...read()])
        return page.approvals.find((approval: any) => approval.runId === runId) !== undefined ? page : undefined
      })
      const qa = inbox.approvals.find((approval: any) => approval.runId === runId)
      assert.strictEqual(qa.nodeId, "qa-approval")
      assert.strictEqual(qa.title, `QA sign-off for ${version}`)
      assert.strictEqual(qa.status, "waiting-approval")
      const newest = await okJson(["approvals", "list", "--reviewer", "*", "--order", "newest", ...read()])
      assert.isDefined(newest.approvals.find((approval: any) => approval.runId === runId))
      const table = await ok(["approvals", "list", "--reviewer", "*", ...read()])
      assert.match(table, /^RUN\s+NODE\s+TITLE\s+WAITING SINCE\s+DEADLINE\s+QUORUM$/m)
      assert.match(table, new RegExp(`^${runId}\\s+qa-approval\\s+QA sign-off for ${version.replaceAll(".", "\\.")}\\s+\\S+ ago\\s+-\\s+1$`, "m"))

      const shown = await okJson(["approvals", "show", runId, ...read()])
      assert.strictEqual(shown.nodeId, "qa-approval")
      assert.deepStrictEqual(shown.reviewed, { artifact: `app-${version}.tar.gz` })
      assert.match(shown.requestHash, /^[0-9a-f]{64}$/)
      assert.include(await ok(["approvals", "show", runId, "--node", "qa-approval", ...read()]), shown.requestHash)

      const decided = await okJson(["approve", runId, "--node", "qa-approval", "--note", "QA passed", ...as("quinn")])
      assert.strictEqual(decided.status, "decided")
      assert.strictEqual(decided.approval.status, "approved")
      assert.strictEqual(decided.approval.decision.note, "QA passed")
      assert.strictEqual(decided.approval.decision.decidedBy, "quinn")

      const why = await eventually("why shows the prod approval waiting", async () => {
        const explanation = await okJson(["why", runId, ...read()])
        return explanation.blockers[0]?.nodeId === "prod-approval" ? explanation : undefined
      })
      assert.strictEqual(why.run.status, "waiting-approval")
      assert.strictEqual(why.blockers.length, 1)
      const prod = why.blockers[0]
      assert.strictEqual(prod._tag, "ApprovalWait")
      assert.deepStrictEqual(prod.mayStillSign, { users: [], roles: ["release-managers"] })
      assert.deepStrictEqual(prod.approvals, { have: 0, need: 1 })
      assert.strictEqual(prod.atDeadline, "deny")
      assert.isAbove(prod.deadline, why.now)
      const screen = await ok(["why", runId, ...read()])
      assert.include(screen, `run ${runId} (release-pipeline) is waiting-approval`)
      assert.include(screen, `approval prod-approval  "Ship ${version} to production?"`)
      assert.match(screen, /may still sign:\s+anyone with role release-managers/)
      assert.match(screen, /quorum:\s+0\/1 approvals/)
      assert.match(screen, /deadline:\s+\S+ \(in 6d 23h\), then it counts as denied/)
      assert.include(screen, `gatehouse approve ${runId} --node prod-approval`)

      const shipped = await ok(["approve", runId, "--node", "prod-approval", ...as("rosa")])
      assert.include(shipped, `approved: prod-approval of run ${runId}`)

      const inspection = await eventually("the run completed", async () => {
        const inspected = await okJson(["runs", "inspect", runId, ...read()])
        return inspected.run.status === "completed" ? inspected : undefined
      })
      assert.deepStrictEqual(
        inspection.nodes.map((node: any) => [node.nodeId, node.kind, node.status]),
        [
          ["build", "step", "completed"],
          ["qa-approval", "approval", "approved"],
          ["deploy-staging", "step", "completed"],
          ["prod-approval", "approval", "approved"],
          ["deploy-production", "step", "completed"]
        ]
      )
      assert.deepStrictEqual(inspection.run.result, {
        _tag: "Success",
        value: { version, environments: ["staging", "production"] }
      })
      const timeline = await ok(["runs", "inspect", runId, ...read()])
      assert.include(timeline, `${runId}  release-pipeline  completed`)
      assert.match(timeline, /^qa-approval\s+approval\s+approved\s+.*approved by quinn "QA passed"$/m)
      assert.match(timeline, /^prod-approval\s+approval\s+approved\s+.*approved by rosa$/m)
      assert.match(timeline, /^deploy-production\s+step\s+completed\s+/m)

      const listed = await okJson(["runs", "list", "--workflow", "release-pipeline", ...read()])
      assert.strictEqual(listed.runs.find((run: any) => run.runId === runId)?.status, "completed")
      const why2 = await ok(["why", runId, ...read()])
      assert.include(why2, "it waits on nothing")

      const audit = (await ok(["audit", "export", "--run", runId, ...target.connection, ...target.reader]))
        .trim().split("\n").map((line) => JSON.parse(line))
      assert.includeMembers(audit.map((entry: any) => entry.action), ["approval.requested", "approval.decided"])
      assert.isTrue(audit.every((entry: any) => entry.runId === runId))
      const verified = await okJson(["audit", "verify", ...read()])
      assert.strictEqual(verified.valid, true)
      assert.isAtLeast(verified.entries, audit.length)
    }, 600_000)

    it("refuses ambiguity, unknown runs and approvals, conflicts and strangers with their exit codes", async () => {
      const change = `CR-${randomUUID().slice(0, 8)}`
      const runId = await target.startRun("change-review", { change })
      await eventually("both reviews requested", async () => {
        const explanation = await okJson(["why", runId, ...read()])
        return explanation.blockers.filter((blocker: any) => blocker._tag === "ApprovalWait").length === 2
          ? true
          : undefined
      })

      const ambiguous = await gatehouse(["approve", runId, ...as("quinn")])
      assert.strictEqual(ambiguous.code, exitCodes.invalidInput, ambiguous.stderr)
      assert.include(ambiguous.stderr, `run "${runId}" waits on 2 approvals; say which with --node`)
      assert.match(ambiguous.stderr, /--node security-review\s+Security review of/)
      assert.match(ambiguous.stderr, /--node legal-review\s+Legal review of/)
      const ambiguousJson = await gatehouse(["deny", runId, "--json", ...as("quinn")])
      assert.strictEqual(ambiguousJson.code, exitCodes.invalidInput)
      assert.strictEqual(ambiguousJson.stdout, "")
      const error = JSON.parse(ambiguousJson.stderr).error
      assert.strictEqual(error.kind, "invalid-input")
      assert.strictEqual(error.exitCode, 2)
      assert.sameMembers(error.details.candidates.map((candidate: any) => candidate.nodeId), ["security-review", "legal-review"])

      const missingRun = await gatehouse(["approve", `no-such-run-${change}`, ...as("quinn")])
      assert.strictEqual(missingRun.code, exitCodes.notFound, missingRun.stderr)
      assert.include(missingRun.stderr, `no-such-run-${change}`)
      const missingInspect = await gatehouse(["runs", "inspect", `no-such-run-${change}`, ...read()])
      assert.strictEqual(missingInspect.code, exitCodes.notFound)
      const missingNode = await gatehouse(["approve", runId, "--node", "no-such-review", ...as("quinn")])
      assert.strictEqual(missingNode.code, exitCodes.notFound, missingNode.stderr)
      assert.include(missingNode.stderr, `No approval "no-such-review" in run "${runId}"`)

      const first = await okJson(["approve", runId, "--node", "security-review", ...as("quinn")])
      assert.strictEqual(first.status, "decided")
      const again = await okJson(["approve", runId, "--node", "security-review", ...as("quinn")])
      assert.strictEqual(again.status, "already-decided")
      const conflict = await gatehouse(["deny", runId, "--node", "security-review", ...as("quinn")])
      assert.strictEqual(conflict.code, exitCodes.conflict, conflict.stderr)
      assert.include(conflict.stderr, "is already approved")
      // One approval left: without --node it is the one meant.
      const shown = await okJson(["approvals", "show", runId, ...read()])
      assert.strictEqual(shown.nodeId, "legal-review")

      const badPayload = await gatehouse(["approve", runId, "--payload", "{not json", ...as("quinn")])
      assert.strictEqual(badPayload.code, exitCodes.invalidInput)
      assert.include(badPayload.stderr, "--payload is not JSON")
      const badLimit = await gatehouse(["approvals", "list", "--limit", "0", ...read()])
      assert.strictEqual(badLimit.code, exitCodes.invalidInput)
      const badOrder = await gatehouse(["approvals", "list", "--order", "oldest", ...read()])
      assert.notStrictEqual(badOrder.code, 0)
      const noNote = await gatehouse(["request-changes", runId, ...as("quinn")])
      assert.strictEqual(noNote.code, exitCodes.invalidInput)

      // The release pipeline's QA gate is for role qa: a stranger may not decide it, and nothing changes.
      const release = await target.startRun("release-pipeline", { version: `9.9.${randomUUID().slice(0, 8)}` })
      await eventually("the QA approval", async () =>
        (await okJson(["why", release, ...read()])).blockers[0]?.nodeId === "qa-approval" ? true : undefined)
      const stranger = await gatehouse(["approve", release, "--node", "qa-approval", ...as("mallory")])
      assert.strictEqual(stranger.code, exitCodes.notAuthorized, stranger.stderr)
      assert.include(stranger.stderr, "may not decide approval \"qa-approval\"")
      assert.strictEqual((await okJson(["approvals", "show", release, ...read()])).status, "waiting-approval")

      const canceled = await okJson(["runs", "cancel", release, "--reason", "abandoned", ...read()])
      assert.strictEqual(canceled.status, "canceled")
      const late = await gatehouse(["approve", release, "--node", "qa-approval", ...as("quinn")])
      assert.strictEqual(late.code, exitCodes.conflict, late.stderr)

      if (target.kind === "server") {
        const withAs = await gatehouse(["approve", runId, "--node", "legal-review", ...as("quinn"), "--as", "quinn"])
        assert.strictEqual(withAs.code, exitCodes.invalidInput)
        assert.include(withAs.stderr, "--as and --role are refused against a server")
        const badToken = await gatehouse(["runs", "list", ...target.connection, "--token", "not-a-token"])
        assert.strictEqual(badToken.code, exitCodes.notAuthorized)
      } else {
        const withoutAs = await gatehouse(["approve", runId, "--node", "legal-review", ...target.connection])
        assert.strictEqual(withoutAs.code, exitCodes.invalidInput)
        assert.include(withoutAs.stderr, "needs --as ID")
      }
    }, 600_000)

    it("request-changes makes a new revision; a decision on the request hash read before is stale (exit 5)", async () => {
      const ticketId = `T-${randomUUID().slice(0, 8)}`
      const runId = await target.startRun("draft-reply", { ticketId })
      await eventually("the first revision waiting", async () =>
        (await okJson(["why", runId, ...read()])).blockers[0]?.nodeId === "reply#1" ? true : undefined)
      const first = await okJson(["approvals", "show", runId, ...read()])
      assert.strictEqual(first.nodeId, "reply#1")
      assert.deepStrictEqual(first.reviewed, { reply: `Reply to ${ticketId}, revision 1` })

      const changes = await okJson([
        "request-changes", runId, "--note", "mention the amount", "--request-hash", first.requestHash, ...as("quinn")
      ])
      assert.strictEqual(changes.status, "decided")
      assert.strictEqual(changes.approval.status, "changes-requested")
      const second = await eventually("the second revision waiting", async () => {
        const approval = await okJson(["approvals", "show", runId, ...read()])
        return approval.nodeId === "reply#2" ? approval : undefined
      })
      assert.deepStrictEqual(second.reviewed, { reply: `Reply to ${ticketId}, revision 2: mention the amount` })
      assert.notStrictEqual(second.requestHash, first.requestHash)

      const stale = await gatehouse(["approve", runId, "--node", "reply", "--request-hash", first.requestHash, ...as("quinn")])
      assert.strictEqual(stale.code, exitCodes.stale, stale.stderr)
      assert.include(stale.stderr, "changed since the reviewer saw it")
      assert.strictEqual((await okJson(["approvals", "show", runId, ...read()])).status, "waiting-approval")
      const badHash = await gatehouse(["approve", runId, "--request-hash", "not-a-hash", ...as("quinn")])
      assert.strictEqual(badHash.code, exitCodes.invalidInput)

      const approved = await okJson(["approve", runId, "--request-hash", second.requestHash, ...as("quinn")])
      assert.strictEqual(approved.status, "decided")
      const done = await eventually("the reply sent", async () => {
        const inspected = await okJson(["runs", "inspect", runId, ...read()])
        return inspected.run.status === "completed" ? inspected : undefined
      })
      assert.deepStrictEqual(done.nodes.map((node: any) => node.nodeId), ["reply#1/produce", "reply#1", "reply#2/produce", "reply#2"])
    }, 600_000)

    it("events tail --follow prints a decision another process makes", async () => {
      const change = `CR-${randomUUID().slice(0, 8)}`
      const runId = await target.startRun("change-review", { change })
      await eventually("both reviews requested", async () =>
        (await okJson(["why", runId, ...read()])).blockers.filter((b: any) => b._tag === "ApprovalWait").length === 2
          ? true
          : undefined)
      const events = (await ok(["events", "tail", "--json", ...read()])).trim().split("\n").map((line) => JSON.parse(line))
      const requested = events.filter((event: any) => event.runId === runId && event.type === "approval.requested")
      assert.sameMembers(requested.map((event: any) => event.nodeId), ["security-review", "legal-review"])
      const cursor = events[events.length - 1].cursor

      const follower = background(["events", "tail", "--follow", "--json", "--poll-interval", "100", "--after", cursor, ...read()])
      try {
        await okJson(["deny", runId, "--node", "legal-review", "--note", "not compliant", ...as("quinn")])
        const line = await follower.waitFor(
          new RegExp(`^.*"type":"approval\\.decided","runId":"${runId}","nodeId":"legal-review".*$`, "m"),
          "the decision's event"
        )
        const event = JSON.parse(line[0])
        assert.strictEqual(event.actor, "quinn")
        assert.strictEqual(event.data.verdict, "deny")
        // Nothing at or before the cursor is printed again.
        assert.notInclude(follower.stdout(), `"cursor":"${cursor}"`)
      } finally {
        assert.strictEqual(await follower.stop("SIGTERM"), 0, follower.output())
      }
    }, 600_000)
  })
