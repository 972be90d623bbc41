/**
 * The terminal's rough edges a new user meets (issue 19, defect 9), on a SQLite file with `gatehouse worker`
 * running the board payout fixture: usage errors that name the option or the command, help without colour
 * codes in a pipe, the hints of `why` and `approvals show` that a reviewer can run as printed, `runs inspect`
 * of a failed step and of a quorum, and a repeated vote that says it changed nothing.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { background, type Background, bin, cleanEnv, eventually, fixtures, gatehouse, ok, okJson, run } from "./utils/cli.js"
import { tempDir } from "./utils/targets.js"

describe("gatehouse, tried as a new user would", () => {
  const temp = tempDir()
  const database = path.join(temp.dir, "gatehouse.db")
  const db = ["--database", database]
  let worker: Background

  const start = async (id: string) => {
    // A start that meets the worker's write on the SQLite file ("database is locked", on a loaded machine)
    // is tried again: the run id is given, so a retry starts the same run once.
    await eventually(`the start of ${id}`, async () => {
      const started = await run([database, "board-payout", id, JSON.stringify({ id }), "ci"], {
        script: path.join(fixtures, "start-run.mjs")
      })
      if (started.code === 0) return true
      assert.include(started.stderr, "database is locked")
      return undefined
    })
    await eventually(`the board approval of ${id}`, async () =>
      (await okJson(["why", id, ...db])).blockers[0]?.nodeId === "board" ? true : undefined)
  }

  beforeAll(async () => {
    const migrated = await run(["migrate", ...db])
    assert.strictEqual(migrated.code, 0, migrated.stderr)
    worker = background([
      "worker", ...db, "--workflows", path.join(fixtures, "board-payout.mjs"), "--poll-interval", "100"
    ])
    await worker.waitFor(/gatehouse: worker \S+ running on/, "the worker's start line")
  }, 180_000)
  afterAll(async () => {
    await worker?.stop("SIGTERM")
    temp.remove()
  })

  it("a bad option value exits 2 naming the option and its allowed values", async () => {
    const limit = await gatehouse(["approvals", "list", "--limit", "many", ...db])
    assert.strictEqual(limit.code, 2)
    assert.strictEqual(limit.stdout, "")
    assert.include(limit.stderr, "gatehouse: --limit takes a whole number from 1 to 500, not 'many'")
    assert.include(limit.stderr, "see `gatehouse approvals list --help`")
    assert.notInclude(limit.stderr, "is not a integer")
    const order = await gatehouse(["approvals", "list", "--order", "sideways", ...db])
    assert.strictEqual(order.code, 2)
    assert.include(order.stderr, "gatehouse: --order takes one of requested, newest, deadline, not 'sideways'")
    // A cursor the inbox never returned: exit 2, the error naming the cursor.
    const cursor = await gatehouse(["approvals", "list", "--cursor", "not-a-cursor", ...db, "--json"])
    assert.strictEqual(cursor.code, 2, cursor.stderr)
    const cursorError = JSON.parse(cursor.stderr).error
    assert.strictEqual(cursorError.kind, "invalid-input")
    assert.include(cursorError.message, "cursor")
    const status = await gatehouse(["runs", "list", "--status", "weird", ...db, "--json"])
    assert.strictEqual(status.code, 2)
    const error = JSON.parse(status.stderr).error
    assert.strictEqual(error.kind, "invalid-input")
    assert.include(error.message, "--status takes one of")
    assert.include(error.message, "waiting-approval")
    const port = await gatehouse(["serve", ...db, "--port", "http"])
    assert.strictEqual(port.code, 2)
    assert.include(port.stderr, "gatehouse: --port takes a whole number from 0 to 65535, not 'http'")
  }, 180_000)

  it("runs cancel without --reason, and an unknown subcommand of runs, exit 2 in gatehouse's words", async () => {
    const cancel = await gatehouse(["runs", "cancel", "some-run", ...db])
    assert.strictEqual(cancel.code, 2)
    assert.strictEqual(cancel.stderr.trim(), "gatehouse: runs cancel needs --reason\n  see `gatehouse runs cancel --help`")
    const unknown = await gatehouse(["runs", "frobnicate"])
    assert.strictEqual(unknown.code, 2)
    assert.include(unknown.stderr, "gatehouse: unknown command 'runs frobnicate'")
    assert.include(unknown.stderr, "gatehouse runs has: cancel, fork, inspect, list, resume, start")
    assert.notInclude(unknown.stderr, "'approvals'")
    const optionFirst = await gatehouse(["approvals", "--limit", "3"])
    assert.strictEqual(optionFirst.code, 2)
    assert.include(optionFirst.stderr, "gatehouse: approvals takes a command first: list, show")
    const top = await gatehouse(["frobnicate"])
    assert.strictEqual(top.code, 2)
    assert.include(top.stderr, "gatehouse: unknown command 'frobnicate'")
    assert.include(top.stderr, "approvals")
  }, 180_000)

  it("--help writes no colour codes into a pipe (NO_COLOR unset)", async () => {
    const env = cleanEnv()
    delete env.NO_COLOR
    const help = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, "--help"], { cwd: fixtures, env, stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      child.stdout.on("data", (chunk) => (stdout += chunk))
      child.on("error", reject)
      child.on("exit", (code) => resolve({ code, stdout }))
    })
    assert.strictEqual(help.code, 0)
    assert.include(help.stdout, "approvals")
    assert.notInclude(help.stdout, "\u001b[")
  }, 180_000)

  it("why's unblock hint and approvals show give what approve then demands: --as, --role and the payload", async () => {
    await start("bp-hint")
    const why = await ok(["why", "bp-hint", ...db])
    assert.include(why, "gatehouse approve bp-hint --node board --as YOUR_ID --role board")
    const shown = await ok(["approvals", "show", "bp-hint", ...db])
    assert.match(shown, /payload:\s+--payload JSON with amount \(number, required\)/)
    assert.include(shown, `gatehouse approve bp-hint --node board --as YOUR_ID --role board --payload '{"amount":0}'`)
    // The hint, with an id, is accepted as printed (the vote counts).
    const voted = await ok(["approve", "bp-hint", "--node", "board", "--as", "bea", "--role", "board", "--payload", `{"amount":0}`, ...db])
    assert.include(voted, "vote recorded: board of run bp-hint (1/2 approvals; still waiting)")
  }, 300_000)

  it("a repeated identical vote says it changed nothing; the same verdict with another note is a repeat, not 'voted otherwise'", async () => {
    await start("bp-repeat")
    const vote = ["approve", "bp-repeat", "--node", "board", "--as", "ann", "--role", "board", "--payload", `{"amount":5}`, ...db]
    assert.include(await ok([...vote, "--note", "fine"]), "vote recorded: board of run bp-repeat (1/2 approvals; still waiting)")
    const again = await ok([...vote, "--note", "fine"])
    assert.include(again, "already voted: you voted approve on board of run bp-repeat before (1/2 approvals; still waiting); nothing changed")
    const reworded = await gatehouse([...vote, "--note", "fine, really"])
    assert.strictEqual(reworded.code, 0, reworded.stderr)
    assert.include(reworded.stdout, `nothing changed; its note "fine" stands`)
    const json = await okJson([...vote, "--note", "fine, really"])
    assert.strictEqual(json.status, "vote-recorded")
    assert.strictEqual(json.repeated, true)
    assert.deepStrictEqual(json.approval.votes.map((cast: any) => [cast.voter, cast.note]), [["ann", "fine"]])
    const flipped = await gatehouse(["deny", "bp-repeat", "--node", "board", "--as", "ann", "--role", "board", ...db])
    assert.strictEqual(flipped.code, 4)
  }, 300_000)

  it("runs inspect: a failed step is failed with its error, a quorum shows every signer, approvals have no attempts", async () => {
    await start("bp-inspect")
    const vote = (who: string) => ["approve", "bp-inspect", "--node", "board", "--as", who, "--role", "board", "--payload", `{"amount":7}`, ...db]
    await ok(vote("ann"))
    await ok(vote("bob"))
    const inspection = await eventually("the run failed", async () => {
      const inspected = await okJson(["runs", "inspect", "bp-inspect", ...db])
      return inspected.run.status === "failed" ? inspected : undefined
    })
    // The journal keeps its format: the failed step's row is completed, with a Failure exit.
    const transfer = inspection.nodes.find((node: any) => node.nodeId === "transfer")
    assert.strictEqual(transfer.status, "completed")
    assert.strictEqual(transfer.exit._tag, "Failure")
    const timeline = await ok(["runs", "inspect", "bp-inspect", ...db])
    assert.match(timeline, /^board\s+approval\s+approved\s+.* ago\s.*\s-\s+approved by ann, bob$/m)
    assert.match(timeline, /^transfer\s+step\s+failed\s+.* ago\s.*\s2\s+failed: the bank refused the transfer$/m)
  }, 300_000)
})
