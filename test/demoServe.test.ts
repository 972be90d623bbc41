import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { tsxArgs } from "./tsx.js"

// `npm run demo -- --serve`: after the demo, the HTTP API stays up on the demo's database, with
// tokens handed over in a file only the user can read (never printed).
describe("npm run demo -- --serve", () => {
  it.live("leaves the API running on the demo's database: /docs, and the inbox with grace's token", () =>
    Effect.gen(function*() {
      const demo = path.join(__dirname, "..", "scratchpad", "demo.ts")
      const child = spawn(process.execPath, [...tsxArgs, demo, "--serve"], {
        cwd: path.join(__dirname, ".."),
        env: { ...process.env, GATEHOUSE_PORT: "0" },
        stdio: ["ignore", "pipe", "pipe"]
      })
      yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
      let output = ""
      child.stdout!.on("data", (chunk) => output += chunk)
      child.stderr!.on("data", (chunk) => output += chunk)
      // Bounded wait for both announcement lines, which may arrive in separate chunks (generous: the demo
      // runs a whole refund first).
      const [listening, tokensFile] = yield* Effect.async<readonly [string, string], Error>((resume) => {
        const check = () => {
          const url = /demo API: listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
          const file = /tokens .* are in (\S+)/.exec(output)
          if (url !== null && file !== null) resume(Effect.succeed([url[1], file[1]] as const))
        }
        child.stdout!.on("data", check)
        child.on("exit", (code) => resume(Effect.fail(new Error(`the demo exited with ${code}:\n${output}`))))
        check()
      }).pipe(Effect.timeoutFail({ duration: "120 seconds", onTimeout: () => new Error(`no listening line:\n${output}`) }))

      const tokens = JSON.parse(fs.readFileSync(tokensFile, "utf8")) as { operator: string; grace: string }
      assert.notInclude(output, tokens.grace)
      assert.notInclude(output, tokens.operator)
      if (os.platform() !== "win32") assert.strictEqual(fs.statSync(tokensFile).mode & 0o077, 0)

      const docs = yield* Effect.promise(() => fetch(`${listening}/docs`))
      assert.strictEqual(docs.status, 200)
      const inbox = yield* Effect.promise(() =>
        fetch(`${listening}/v1/approvals?status=approved`, { headers: { authorization: `Bearer ${tokens.grace}` } })
          .then((response) => response.json() as Promise<{ approvals: Array<{ workflow: string }> }>)
      )
      assert.deepStrictEqual(inbox.approvals.map((approval) => approval.workflow), ["refund-review"])
    }).pipe(Effect.scoped), { timeout: 180_000 })
})
