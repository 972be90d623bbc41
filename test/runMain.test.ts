import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Gatehouse } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Hold } from "./longRunner.js"
import { tsxArgs } from "./tsx.js"

// Gatehouse.runMain: a real runner process, sent SIGTERM while it executes a run, gives the run's lease
// back and exits with code 0.
describe("Gatehouse.runMain", () => {
  it.live("SIGTERM: the runner process interrupts its runs, releases their leases and exits 0", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-runmain-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const filename = path.join(dir, "runner.db")
      const client = yield* Layer.build(Gatehouse.layerClientSqlite({ filename }))
      const runId = yield* Hold.start({ id: "hold-1" }).pipe(Effect.provide(client))

      let stdout = ""
      let stderr = ""
      const child = spawn(process.execPath, [...tsxArgs, path.join(__dirname, "longRunner.ts")], {
        env: {
          ...process.env,
          GATEHOUSE_DATABASE_URL: `sqlite:${filename}`,
          GATEHOUSE_RUNNER_ID: "long-runner",
          GATEHOUSE_POLL_INTERVAL: "50 millis"
        },
        stdio: ["ignore", "pipe", "pipe"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      child.stdout!.on("data", (chunk) => stdout += chunk)
      child.stderr!.on("data", (chunk) => stderr += chunk)
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))

      // Bounded wait (generous: tsx starts slowly on a loaded machine) until the run is inside its step.
      const deadline = Date.now() + 90_000
      while (!stdout.includes(`inside ${runId}`)) {
        if (Date.now() > deadline || child.exitCode !== null) {
          assert.fail(`the runner never entered the step\nstdout: ${stdout}\nstderr: ${stderr}`)
        }
        yield* Effect.promise(() => new Promise((resolve) => child.stdout!.once("data", resolve)).then(() => undefined))
          .pipe(Effect.timeout("1 second"), Effect.ignore)
      }
      const sql = yield* SqlClient.SqlClient.pipe(Effect.provide(client))
      const lease = sql<{ status: string; lease_owner: string | null }>`SELECT status, lease_owner FROM gatehouse_runs
        WHERE id = ${runId}`.pipe(Effect.map((rows) => rows[0]))
      assert.deepStrictEqual(yield* lease, { status: "running", lease_owner: "long-runner" })

      child.kill("SIGTERM")
      const code = yield* Effect.promise(() => exited).pipe(
        Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`no exit after SIGTERM\n${stderr}`) })
      )
      assert.strictEqual(code, 0, stderr)
      assert.deepStrictEqual(yield* lease, { status: "runnable", lease_owner: null })
      assert.include(stderr + stdout, "SIGTERM")
    }).pipe(Effect.scoped), { timeout: 180_000 })
})
