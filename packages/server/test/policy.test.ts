import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { eventually, serve, sqliteEngine, tokens } from "./utils/fixtures.js"

const yaml = `
version: http-1
default: { decide: allow }
rules:
  - id: pings-per-hour
    match: { workflow: ping, labels: { channel: external } }
    decide: throttle
    throttle: { key: "pings:{actor}", limit: 1, window: 1 hour }
  - id: no-staging
    match: { workflow: ping, labels: { environment: staging } }
    decide: deny
    reason: staging is closed
`

describe("HTTP policy", () => {
  it.live("operators activate, explain, simulate and backtest; starts get 403 and 429 with Retry-After", () =>
    Effect.gen(function*() {
      const server = yield* Effect.flatMap(sqliteEngine, (engine) => serve(engine))
      const operator = yield* server.client(tokens.operator)
      const mallory = yield* server.client(tokens.mallory)

      assert.deepStrictEqual(yield* operator.policy.show(), {})
      const forbidden = yield* mallory.policy.activate({ payload: { document: yaml } }).pipe(Effect.flip)
      assert.strictEqual(forbidden._tag, "Forbidden")

      const invalid = yield* server.fetch("/v1/policy", {
        method: "PUT",
        token: tokens.operator,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ document: { version: "x", default: { decide: "allow" }, rules: [{ id: "r", decide: "deny" }] } })
      })
      assert.strictEqual(invalid.status, 400)
      const problem = (yield* Effect.promise(() => invalid.json())) as { path: string }
      assert.strictEqual(problem.path, "rules[0].reason")
      assert.deepStrictEqual(yield* operator.policy.show(), {})

      const activation = yield* operator.policy.activate({ payload: { document: yaml } })
      assert.strictEqual(activation.version, "http-1")
      assert.strictEqual(activation.activatedBy, "olivia")
      assert.strictEqual((yield* operator.policy.show()).policy?.snapshotId, activation.snapshotId)
      assert.deepStrictEqual((yield* operator.policy.history()).map((entry) => entry.snapshotId), [activation.snapshotId])

      const start = (labels: Record<string, string>, key: string) =>
        server.fetch("/v1/workflows/ping/runs", {
          method: "POST",
          token: tokens.operator,
          headers: { "content-type": "application/json", "idempotency-key": key },
          body: JSON.stringify({ payload: { message: key }, labels })
        })
      const first = yield* start({ channel: "external" }, "p-1")
      assert.strictEqual(first.status, 201)
      const { runId } = (yield* Effect.promise(() => first.json())) as { runId: string }
      const second = yield* start({ channel: "external" }, "p-2")
      assert.strictEqual(second.status, 429)
      const retryAfter = Number(second.headers.get("retry-after"))
      assert.isTrue(retryAfter >= 1 && retryAfter <= 3600, String(retryAfter))
      const denied = yield* start({ environment: "staging" }, "p-3")
      assert.strictEqual(denied.status, 403)
      assert.strictEqual(((yield* Effect.promise(() => denied.json())) as { reason: string }).reason, "staging is closed")

      const evaluations = yield* eventually(operator.policy.evaluations({ path: { runId } }))
      assert.deepStrictEqual(evaluations.map((evaluation) => evaluation.ruleId), ["pings-per-hour"])

      const explained = yield* operator.policy.explain({
        payload: { action: { workflow: "ping", labels: { environment: "staging" } } }
      })
      assert.strictEqual(explained.evaluation?.ruleId, "no-staging")
      assert.strictEqual(explained.evaluation?.trace[0].reason, "label channel is not set (the rule wants \"external\")")
      const simulated = yield* operator.policy.simulate({
        payload: { document: { version: "draft", default: { decide: "deny", reason: "closed" }, rules: [] }, action: { workflow: "ping" } }
      })
      assert.strictEqual(simulated.decision.decide, "deny")
      const validated = yield* operator.policy.validate({ payload: { document: yaml } })
      assert.strictEqual(validated.snapshotId, activation.snapshotId)
      const backtest = yield* operator.policy.backtest({
        payload: { document: { version: "draft", default: { decide: "deny", reason: "closed" }, rules: [] }, days: 1 }
      })
      // Every start evaluated was recorded: admitted (allow → deny), throttled (throttled → deny), denied.
      assert.strictEqual(backtest.actions, 3)
      assert.strictEqual(backtest.changed, 2)
    }).pipe(Effect.scoped))
})
