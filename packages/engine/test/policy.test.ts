import { assert, describe, it } from "@effect/vitest"
import { Policy } from "@gatehouse/engine"
import * as Effect from "effect/Effect"

// The example: large production payments need finance, external notifications need a human,
// reads are allowed, refunds are throttled per tenant, and nothing else runs.
const document = `
version: "2026-11-22.1"
default:
  decide: deny
  reason: no rule allows this action
rules:
  - id: large-payments
    match:
      action: finance.payment.execute
      labels: { environment: production }
      input:
        - { path: amount, greaterThan: 1000 }
    decide: require_human
    approval:
      reviewers: { roles: [finance] }
      timeout: 4 hours
      onTimeout:
        escalateTo: { roles: [finance-leads] }
        timeout: 4 hours
  - id: payments
    match: { action: "finance.*" }
    decide: allow
  - id: external-notify
    match:
      action: customer.notify
      labels: { channel: external }
    decide: require_human
    approval:
      reviewers: { roles: [support] }
  - id: reads
    match: { action: knowledge.read }
    decide: allow
  - id: refunds
    match: { workflow: refund }
    decide: throttle
    throttle: { key: "refunds:{labels.tenant}", limit: 10, window: 1 minute }
`

const payment = (amount: number, environment = "production"): Policy.Action => ({
  workflow: "payout",
  action: "finance.payment.execute",
  labels: { environment },
  input: { amount }
})

describe("Policy", () => {
  it.effect("the first matching rule decides, with the trace of every rule before it", () =>
    Effect.gen(function*() {
      const policy = yield* Policy.decode(document)
      const large = Policy.evaluate(policy, payment(2500))
      assert.strictEqual(large.ruleId, "large-payments")
      assert.strictEqual(large.decision.decide, "require_human")
      assert(large.decision.decide === "require_human")
      assert.deepStrictEqual(large.decision.approval.reviewers, { roles: ["finance"] })
      assert.strictEqual(large.snapshotId, policy.snapshotId)

      const small = Policy.evaluate(policy, payment(999))
      assert.strictEqual(small.ruleId, "payments")
      assert.deepStrictEqual(small.trace, [
        { ruleId: "large-payments", matched: false, reason: "input.amount is 999, not greater than 1000" },
        { ruleId: "payments", matched: true, reason: "matched: decides allow" }
      ])
      const staging = Policy.evaluate(policy, payment(5000, "staging"))
      assert.strictEqual(staging.trace[0].reason, `label environment is "staging", not "production"`)
      assert.strictEqual(staging.ruleId, "payments")

      const notify = Policy.evaluate(policy, {
        workflow: "onboarding",
        action: "customer.notify",
        labels: { channel: "external" }
      })
      assert.strictEqual(notify.ruleId, "external-notify")
      const internal = Policy.evaluate(policy, {
        workflow: "onboarding",
        action: "customer.notify",
        labels: { channel: "internal" }
      })
      assert.strictEqual(internal.ruleId, undefined)
      assert.deepStrictEqual(internal.decision, { decide: "deny", reason: "no rule allows this action" })
      assert.strictEqual(internal.trace.length, 5)

      assert.strictEqual(Policy.evaluate(policy, { workflow: "kb", action: "knowledge.read" }).decision.decide, "allow")
      const start = Policy.evaluate(policy, { workflow: "refund", labels: { tenant: "acme" } })
      assert.strictEqual(start.ruleId, "refunds")
      assert.strictEqual(start.trace[0].reason, `a run's start has no action (the rule wants "finance.payment.execute")`)
      assert(start.decision.decide === "throttle")
      assert.strictEqual(
        Policy.throttleKey(start.decision.throttle.key, { workflow: "refund", labels: { tenant: "acme" } }),
        "refunds:acme"
      )
    }))

  it.effect("conditions: equals, oneOf, greaterThan, lessThan, exists, by dotted path; actors and roles", () =>
    Effect.gen(function*() {
      const policy = yield* Policy.decode({
        version: "1",
        default: { decide: "allow" },
        rules: [
          { id: "eq", match: { input: [{ path: "customer.tier", equals: "gold" }] }, decide: "deny", reason: "eq" },
          { id: "in", match: { input: [{ path: "currency", oneOf: ["EUR", "CHF"] }] }, decide: "deny", reason: "in" },
          { id: "lt", match: { input: [{ path: "amount", lessThan: 0 }] }, decide: "deny", reason: "lt" },
          { id: "exists", match: { input: [{ path: "override", exists: true }] }, decide: "deny", reason: "exists" },
          { id: "absent", match: { input: [{ path: "ticket", exists: false }] }, decide: "deny", reason: "absent" },
          { id: "actor", match: { actor: ["mallory", "bot-*"] }, decide: "deny", reason: "actor" },
          { id: "role", match: { roles: ["intern"] }, decide: "deny", reason: "role" }
        ]
      })
      const ruleFor = (action: Omit<Policy.Action, "workflow">) => Policy.evaluate(policy, { workflow: "w", ...action }).ruleId
      assert.strictEqual(ruleFor({ input: { ticket: 1, customer: { tier: "gold" } } }), "eq")
      assert.strictEqual(ruleFor({ input: { ticket: 1, customer: { tier: "silver" }, currency: "CHF" } }), "in")
      assert.strictEqual(ruleFor({ input: { ticket: 1, amount: -5 } }), "lt")
      assert.strictEqual(ruleFor({ input: { ticket: 1, amount: "-5" } }), undefined)
      assert.strictEqual(ruleFor({ input: { ticket: 1, override: null } }), "exists")
      assert.strictEqual(ruleFor({ input: {} }), "absent")
      assert.strictEqual(ruleFor({ input: { ticket: 1 }, actor: "bot-7" }), "actor")
      assert.strictEqual(ruleFor({ input: { ticket: 1 }, actor: "ana", roles: ["intern"] }), "role")
      assert.strictEqual(ruleFor({ input: { ticket: 1 }, actor: "ana", roles: ["finance"] }), undefined)
    }))

  it.effect("an invalid document is refused with the path of the bad field", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ version: "1", rules: [] }, "default"],
        [{ version: "", default: { decide: "allow" }, rules: [] }, "version"],
        [{ version: "1", default: { decide: "allow" }, rules: [{ id: "r", decide: "deny" }] }, "rules[0].reason"],
        [
          { version: "1", default: { decide: "allow" }, rules: [{ id: "r", decide: "throttle", throttle: { key: "k", limit: 0, window: "1 minute" } }] },
          "rules[0].throttle.limit"
        ],
        [
          { version: "1", default: { decide: "allow" }, rules: [{ id: "r", decide: "throttle", throttle: { key: "k", limit: 1, window: "soon" } }] },
          "rules[0].throttle.window"
        ],
        [
          { version: "1", default: { decide: "allow" }, rules: [{ id: "r", match: { input: [{ path: "a", equals: 1, exists: true }] }, decide: "allow" }] },
          "rules[0].match.input[0]"
        ],
        [
          { version: "1", default: { decide: "allow" }, rules: [{ id: "r", decide: "allow" }, { id: "r", decide: "allow" }] },
          "rules[1].id"
        ],
        [{ version: "1", default: { decide: "allow" }, rules: [], extra: true }, "extra"]
      ]
      for (const [input, path] of cases) {
        const error = yield* Policy.decode(input).pipe(Effect.flip)
        assert.strictEqual(error._tag, "InvalidPolicy")
        assert.strictEqual(error.path, path, `${JSON.stringify(input)}: ${error.message}`)
      }
      const yaml = yield* Policy.decode("version: [unclosed").pipe(Effect.flip)
      assert.include(yaml.message, "not YAML or JSON")
    }))

  it.effect("the snapshot id is the version and the hash of the canonical document; key order does not change it", () =>
    Effect.gen(function*() {
      const a = yield* Policy.decode({ version: "7", default: { decide: "allow" }, rules: [] })
      const b = yield* Policy.decode(`{"rules": [], "default": {"decide": "allow"}, "version": "7"}`)
      const c = yield* Policy.decode({ version: "7", default: { decide: "deny", reason: "no" }, rules: [] })
      assert.strictEqual(a.snapshotId, b.snapshotId)
      assert.match(a.snapshotId, /^7@[0-9a-f]{64}$/)
      assert.notStrictEqual(a.snapshotId, c.snapshotId)
      assert.strictEqual(
        Policy.actionHash({ workflow: "w", labels: { b: "2", a: "1" }, input: { y: 1, x: 2 } }),
        Policy.actionHash({ workflow: "w", input: { x: 2, y: 1 }, labels: { a: "1", b: "2" } })
      )
      const human = (users: Array<string>) => ({ decide: "require_human" as const, approval: { reviewers: { users } } })
      assert.isTrue(Policy.sameHumanDecision(human(["a", "b"]), human(["b", "a"])))
      assert.isFalse(Policy.sameHumanDecision(human(["a"]), human(["a", "c"])))
    }))
})
