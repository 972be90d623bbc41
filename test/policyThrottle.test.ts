import { assert, describe, it } from "@effect/vitest"
import { Gatehouse, GatehouseTest, Policies, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { tsxArgs } from "./tsx.js"

const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const run = (url: string, prefix: string, starts: number) =>
  Effect.async<{ admitted: number; throttled: number }, Error>((resume) => {
    const child = spawn(process.execPath, [...tsxArgs, path.join(__dirname, "policyStarter.ts")], {
      env: { ...process.env, GATEHOUSE_URL: url, GATEHOUSE_PREFIX: prefix, GATEHOUSE_STARTS: String(starts) },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout!.on("data", (chunk) => output += chunk)
    child.stderr!.on("data", (chunk) => output += chunk)
    child.on("exit", (code) => {
      const line = output.trim().split("\n").pop() ?? ""
      if (code !== 0) return resume(Effect.fail(new Error(`starter ${prefix} exited ${code}: ${output}`)))
      try {
        resume(Effect.succeed(JSON.parse(line)))
      } catch {
        resume(Effect.fail(new Error(`starter ${prefix} printed ${output}`)))
      }
    })
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe.skipIf(process.env.GATEHOUSE_PG === "skip")("Policy throttle across processes (PostgreSQL)", () => {
  it.scoped("100 concurrent starts from 3 processes: exactly the configured rate is admitted", () =>
    Effect.gen(function*() {
      const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "throttle" })
      const context = yield* Layer.build(Gatehouse.layerClientPg({ url }))
      const policies = yield* Effect.provide(Policies.Policies, context)
      yield* policies.activate({
        version: "throttle-test",
        default: { decide: "allow" },
        rules: [{
          id: "reports-per-tenant",
          match: { workflow: "report" },
          decide: "throttle",
          // A window far longer than the test, so the starts cannot straddle two windows.
          throttle: { key: "reports:{labels.tenant}", limit: 7, window: "3650 days" }
        }]
      }, { by: "test" })
      const outcomes = yield* Effect.all([run(url, "a", 34), run(url, "b", 33), run(url, "c", 33)], {
        concurrency: "unbounded"
      })
      const admitted = outcomes.reduce((sum, outcome) => sum + outcome.admitted, 0)
      const throttled = outcomes.reduce((sum, outcome) => sum + outcome.throttled, 0)
      assert.strictEqual(admitted, 7, JSON.stringify(outcomes))
      assert.strictEqual(throttled, 93)
      const runs = yield* Effect.provide(Effect.flatMap(Workflows.Workflows, (w) => w.list({ workflow: "report", limit: 500 })), context)
      assert.strictEqual(runs.runs.length, 7)
    }), { timeout: 180_000 })
})
