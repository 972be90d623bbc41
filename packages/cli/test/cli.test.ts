/**
 * The `gatehouse` binary's surface without a scenario: help, version, completions, the workspace bin from
 * the repository root, and the exit codes of a database or server that cannot be reached and of missing
 * or conflicting connection options.
 */
import { assert, describe, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { cleanEnv, gatehouse } from "./utils/cli.js"

const root = path.resolve(__dirname, "..", "..", "..")

describe("gatehouse", () => {
  it("prints help listing every command group, its version and shell completions", async () => {
    const help = await gatehouse(["--help"])
    assert.strictEqual(help.code, 0)
    for (const command of ["approvals", "approve", "deny", "request-changes", "runs", "why", "events", "audit", "migrate", "worker", "serve"]) {
      assert.include(help.stdout, command)
    }
    const version = await gatehouse(["--version"])
    assert.strictEqual(version.stdout.trim(), "0.1.0")
    const completions = await gatehouse(["--completions", "bash"])
    assert.strictEqual(completions.code, 0)
    assert.include(completions.stdout, "_gatehouse_bash_completions")
  }, 180_000)

  it("runs as `npx gatehouse` from the repository root (the workspace bin)", async () => {
    const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn("npx", ["--no-install", "gatehouse", "--version"], { cwd: root, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk) => (stdout += chunk))
      child.stderr.on("data", (chunk) => (stderr += chunk))
      child.on("error", reject)
      child.on("exit", (code) => resolve({ code, stdout, stderr }))
    })
    assert.strictEqual(result.code, 0, result.stderr)
    assert.strictEqual(result.stdout.trim(), "0.1.0")
  }, 180_000)

  it("exits 7 when the database or the server cannot be reached, and says what to check", async () => {
    const database = await gatehouse(["runs", "list", "--database", path.join(root, "no-such-dir", "x", "gh.db")])
    assert.strictEqual(database.code, 7, database.stderr)
    assert.include(database.stderr, "cannot open the database")
    assert.include(database.stderr, "check --database or GATEHOUSE_DATABASE_URL")
    const pg = await gatehouse(["why", "some-run", "--database", "postgres://postgres@127.0.0.1:1/test"])
    assert.strictEqual(pg.code, 7, pg.stderr)
    // Port 9 (discard) on 127.0.0.1: nothing listens; the connection is refused.
    const server = await gatehouse(["approvals", "list", "--server", "http://127.0.0.1:9", "--token", "t", "--json"])
    assert.strictEqual(server.code, 7, server.stderr)
    const error = JSON.parse(server.stderr).error
    assert.strictEqual(error.kind, "unreachable")
    assert.include(error.message, "cannot reach the server http://127.0.0.1:9")
  }, 180_000)

  it("exits 2 without a database or server, with both, or with a server and no token", async () => {
    const none = await gatehouse(["approvals", "list"])
    assert.strictEqual(none.code, 2)
    assert.include(none.stderr, "no database or server to talk to")
    const both = await gatehouse(["runs", "list", "--database", "x.db", "--server", "http://127.0.0.1:9", "--token", "t"])
    assert.strictEqual(both.code, 2)
    assert.include(both.stderr, "give either --server or --database, not both")
    const noToken = await gatehouse(["runs", "list", "--server", "http://127.0.0.1:9"])
    assert.strictEqual(noToken.code, 2)
    assert.include(noToken.stderr, "--server needs a token")
    const badUrl = await gatehouse(["runs", "list", "--server", "ftp://x", "--token", "t"])
    assert.strictEqual(badUrl.code, 2)
    const unknown = await gatehouse(["approvals", "frobnicate"])
    assert.strictEqual(unknown.code, 2)
  }, 180_000)
})
