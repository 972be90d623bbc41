import { afterAll, assert, beforeAll, describe, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { background, type Background, fixtures, run } from "./utils/cli.js"
import { tempDir } from "./utils/targets.js"

const requireFinance = `
version: v1
default: { decide: allow }
rules:
  - id: large-payments
    match:
      action: finance.payment.execute
      labels: { environment: production }
      input: [{ path: amount, greaterThan: 1000 }]
    decide: require_human
    approval:
      reviewers: { roles: [finance] }
`
const freeze = `
version: v2
default: { decide: allow }
rules:
  - id: freeze
    match: { action: "finance.*" }
    decide: deny
    reason: payments are frozen
`

/** Retries `read` until `accept` holds, for at most 120 s (waiting on the worker, not on time). */
const until = async <A>(read: () => Promise<A>, accept: (value: A) => boolean, what: string): Promise<A> => {
  const deadline = Date.now() + 120_000
  for (;;) {
    const value = await read()
    if (accept(value)) return value
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}: ${JSON.stringify(value)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe("gatehouse policy", () => {
  const temp = tempDir()
  const database = path.join(temp.dir, "gatehouse.db")
  const file = (name: string, text: string) => {
    const at = path.join(temp.dir, name)
    fs.writeFileSync(at, text)
    return at
  }
  const v1 = file("v1.yaml", requireFinance)
  const v2 = file("v2.yaml", freeze)
  const bad = file("bad.yaml", "version: x\ndefault: { decide: allow }\nrules:\n  - id: r\n    decide: deny\n")
  let worker: Background

  beforeAll(async () => {
    const migrated = await run(["migrate", "--database", database])
    assert.strictEqual(migrated.code, 0, migrated.stderr)
    worker = background(["worker", "--database", database, "--workflows", path.join(fixtures, "payout.mjs"), "--poll-interval", "100"])
    await worker.waitFor(/gatehouse: worker \S+ running on/, "the worker's start line")
  }, 180_000)
  afterAll(async () => {
    await worker?.stop("SIGTERM")
    temp.remove()
  })

  it("validate and simulate read only the draft; a bad document exits 2 naming the field", async () => {
    const valid = await run(["policy", "validate", v1, "--json"])
    assert.strictEqual(valid.code, 0, valid.stderr)
    assert.match(JSON.parse(valid.stdout).snapshotId, /^v1@[0-9a-f]{64}$/)
    const invalid = await run(["policy", "validate", bad])
    assert.strictEqual(invalid.code, 2)
    assert.include(invalid.stderr, "rules[0].reason")
    const simulated = await run([
      "policy", "simulate", v1, "--workflow", "payout", "--action", "finance.payment.execute",
      "--label", "environment=production", "--input", JSON.stringify({ amount: 5000 }), "--json"
    ])
    assert.strictEqual(simulated.code, 0, simulated.stderr)
    assert.strictEqual(JSON.parse(simulated.stdout).decision.decide, "require_human")
    const human = await run([
      "policy", "simulate", v1, "--workflow", "payout", "--action", "finance.payment.execute",
      "--label", "environment=staging"
    ])
    assert.strictEqual(human.code, 0, human.stderr)
    assert.include(human.stdout, `label environment is "staging", not "production"`)
    assert.include(human.stdout, "allow by the default")
  }, 180_000)

  it("activate, show, explain; a decision under a policy changed since exits 9 and the payment never runs", async () => {
    const none = await run(["policy", "show", "--database", database])
    assert.include(none.stdout, "no active policy")
    const activated = await run(["policy", "activate", v1, "--database", database, "--as", "ops", "--json"])
    assert.strictEqual(activated.code, 0, activated.stderr)
    const activation = JSON.parse(activated.stdout)
    assert.strictEqual(activation.activatedBy, "ops")
    const shown = JSON.parse((await run(["policy", "show", "--database", database, "--json"])).stdout)
    assert.strictEqual(shown.snapshotId, activation.snapshotId)
    const explained = await run([
      "policy", "explain", "--database", database, "--workflow", "payout", "--action", "finance.payment.execute",
      "--label", "environment=production", "--input", JSON.stringify({ amount: 5000 }), "--json"
    ])
    assert.strictEqual(JSON.parse(explained.stdout).ruleId, "large-payments")

    const started = await run([database, "payout", "payout-cli-1", JSON.stringify({ amount: 5000 }), "ci"], {
      script: path.join(fixtures, "start-run.mjs")
    })
    assert.strictEqual(started.code, 0, started.stderr)
    await until(
      async () => JSON.parse((await run(["approvals", "list", "--database", database, "--json"])).stdout),
      (page) => page.approvals.some((approval: { nodeId: string }) => approval.nodeId === "pay/policy-approval"),
      "the policy's approval"
    )
    const frozen = await run(["policy", "activate", v2, "--database", database, "--as", "ops"])
    assert.strictEqual(frozen.code, 0, frozen.stderr)
    const refused = await run([
      "approve", "payout-cli-1", "--node", "pay/policy-approval", "--as", "fiona", "--role", "finance", "--database", database
    ])
    assert.strictEqual(refused.code, 9, refused.stdout + refused.stderr)
    assert.include(refused.stderr, "now decides deny")
    const run1 = await until(
      async () => JSON.parse((await run(["runs", "inspect", "payout-cli-1", "--database", database, "--json"])).stdout),
      (inspection) => inspection.run.status === "failed",
      "the run to fail"
    )
    assert.isFalse(run1.nodes.some((node: { nodeId: string }) => node.nodeId === "pay"))

    const backtest = await run(["policy", "backtest", v2, "--database", database, "--days", "1", "--json"])
    assert.strictEqual(backtest.code, 0, backtest.stderr)
    const report = JSON.parse(backtest.stdout)
    // The run's start (allowed by both) and its payment (a human under v1, denied under v2).
    assert.strictEqual(report.actions, 2)
    assert.deepStrictEqual(report.transitions, [{ from: "require_human", to: "deny", count: 1 }])
  }, 300_000)
})
