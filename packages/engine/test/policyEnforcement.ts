import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Approvals, Audit, GatehouseTest, Policies, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { sideEffects, withEngine } from "./utils/engine.js"

// A payout pays through a declared action; a report starts under the policy and has one step.
const Payout = Workflow.make({
  name: "payout",
  payload: Schema.Struct({ id: Schema.String, amount: Schema.Number, environment: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const PayoutLive = Payout.toLayer((payload, run) =>
  Step.run(
    "pay",
    Effect.gen(function*() {
      yield* sideEffects.record(run.runId, "paid")
      return `paid ${payload.amount}`
    }),
    {
      success: Schema.String,
      action: "finance.payment.execute",
      input: { amount: payload.amount },
      labels: { environment: payload.environment }
    }
  ).pipe(Effect.catchTag("Throttled", (error) => Effect.succeed(`throttled until ${error.retryAt}`)))
)

const Report = Workflow.make({
  name: "report",
  payload: Schema.Struct({ id: Schema.String, tenant: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const ReportLive = Report.toLayer((payload, run) =>
  Step.run("write", sideEffects.record(run.runId, "written").pipe(Effect.as(`report for ${payload.tenant}`)), {
    success: Schema.String
  })
)

const Live = Layer.mergeAll(PayoutLive, ReportLive)

const policyV1 = {
  version: "v1",
  default: { decide: "allow" },
  rules: [
    {
      id: "large-payments",
      match: {
        action: "finance.payment.execute",
        labels: { environment: "production" },
        input: [{ path: "amount", greaterThan: 1000 }]
      },
      decide: "require_human",
      approval: { reviewers: { roles: ["finance"] }, timeout: "4 hours" }
    },
    { id: "sandbox", match: { action: "finance.*", labels: { environment: "sandbox" } }, decide: "deny", reason: "no payments from the sandbox" },
    { id: "blocked-tenant", match: { workflow: "report", labels: { tenant: "blocked" } }, decide: "deny", reason: "tenant is blocked" },
    { id: "reports-per-tenant", match: { workflow: "report" }, decide: "throttle", throttle: { key: "reports:{labels.tenant}", limit: 2, window: "1 minute" } },
    { id: "audited-tenant", match: { workflow: "report", labels: { tenant: "audited" } }, decide: "require_human", approval: { reviewers: { users: ["auditor"] } } }
  ]
} as const

const services = Effect.all({
  policies: Policies.Policies,
  approvals: Approvals.Approvals,
  workflows: Workflows.Workflows,
  sql: SqlClient.SqlClient
})

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    it.scoped("at a start: deny stores nothing, throttle admits its rate per window and key", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withEngine(db, Live, Effect.gen(function*() {
          const { policies, workflows } = yield* services
          yield* sideEffects.setup
          // Without a policy nothing is evaluated.
          yield* Report.start({ id: "free", tenant: "acme" }, { labels: { tenant: "blocked" } })
          assert.isTrue(Option.isNone(yield* policies.active))
          const activation = yield* policies.activate(policyV1, { by: "ops" })
          assert.match(activation.snapshotId, /^v1@[0-9a-f]{64}$/)

          const denied = yield* Report.start({ id: "r-blocked", tenant: "x" }, { labels: { tenant: "blocked" } }).pipe(Effect.flip)
          assert.strictEqual(denied._tag, "PolicyDenied")
          assert(denied._tag === "PolicyDenied")
          assert.strictEqual(denied.ruleId, "blocked-tenant")
          assert.strictEqual(denied.reason, "tenant is blocked")
          assert.strictEqual((yield* workflows.list({ workflow: "report" })).runs.length, 1)

          yield* Report.start({ id: "r-1", tenant: "acme" }, { labels: { tenant: "acme" } })
          yield* Report.start({ id: "r-2", tenant: "acme" }, { labels: { tenant: "acme" } })
          // Starting an existing run again is not another action.
          yield* Report.start({ id: "r-2", tenant: "acme" }, { labels: { tenant: "acme" } })
          const throttled = yield* Report.start({ id: "r-3", tenant: "acme" }, { labels: { tenant: "acme" } }).pipe(Effect.flip)
          assert(throttled._tag === "Throttled")
          assert.strictEqual(throttled.key, "reports:acme")
          assert.isAbove(throttled.retryAt, 0)
          // Another tenant has its own window.
          yield* Report.start({ id: "r-other", tenant: "globex" }, { labels: { tenant: "globex" } })
          // A batch under a policy: each start is evaluated in order, and the first refusal fails the call.
          const initech = [1, 2, 3].map((n) => ({ id: `m-${n}`, tenant: "initech" }))
          const batch = yield* Report.startMany(initech, { labels: { tenant: "initech" } }).pipe(Effect.flip)
          assert.strictEqual(batch._tag, "Throttled")
          const started = (yield* workflows.list({ workflow: "report", limit: 100 })).runs.map((run) => run.runId)
          assert.includeMembers(started, yield* Effect.forEach(initech.slice(0, 2), (payload) => Report.start(payload)))
          assert.strictEqual(started.length, 6)
          yield* TestClock.adjust("1 minute")
          yield* Report.start({ id: "r-3", tenant: "acme" }, { labels: { tenant: "acme" } })
          yield* GatehouseTest.settle
          assert.strictEqual((yield* workflows.list({ workflow: "report", status: "completed" })).runs.length, 7)

          const evaluations = yield* policies.evaluations((yield* Report.start({ id: "r-1", tenant: "acme" })))
          assert.deepStrictEqual(evaluations.map((e) => [e.ruleId, e.decision.decide]), [["reports-per-tenant", "throttle"]])
        }))
      }))

    it.scoped("a declared action: allowed runs, large payments wait for finance, sandbox payments fail the run", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withEngine(db, Live, Effect.gen(function*() {
          const { approvals, policies } = yield* services
          yield* sideEffects.setup
          yield* policies.activate(policyV1, { by: "ops" })

          const small = yield* Payout.start({ id: "p-small", amount: 20, environment: "production" })
          const large = yield* Payout.start({ id: "p-large", amount: 2500, environment: "production" })
          const sandbox = yield* Payout.start({ id: "p-sandbox", amount: 5, environment: "sandbox" })
          yield* GatehouseTest.settle
          assert.deepStrictEqual(yield* Payout.result(small), Exit.succeed("paid 20"))
          const result = yield* Payout.result(sandbox)
          assert(Exit.isFailure(result))
          const failure = Exit.causeOption(result).pipe(Option.getOrThrow)
          assert.include(JSON.stringify(failure), "PolicyDenied")
          assert.strictEqual(yield* sideEffects.count(sandbox, "paid"), 0)

          const approval = yield* approvals.get({ runId: large, nodeId: "pay/policy-approval" })
          assert.strictEqual(approval.status, "waiting-approval")
          assert.deepStrictEqual(approval.reviewers.roles, ["finance"])
          assert.deepStrictEqual(approval.reviewed, { amount: 2500 })
          assert.strictEqual(yield* sideEffects.count(large, "paid"), 0)
          const outsider = yield* approvals.decide({ runId: large, nodeId: "pay/policy-approval", verdict: "approve", by: "bob" }).pipe(Effect.flip)
          assert.strictEqual(outsider._tag, "NotAuthorized")
          yield* approvals.decide({
            runId: large,
            nodeId: "pay/policy-approval",
            verdict: "approve",
            by: { id: "fiona", roles: ["finance"] }
          })
          yield* GatehouseTest.settle
          assert.deepStrictEqual(yield* Payout.result(large), Exit.succeed("paid 2500"))
          assert.strictEqual(yield* sideEffects.count(large, "paid"), 1)
          const audit = yield* Audit.forRun(large)
          assert.includeMembers(audit.map((entry) => entry.action), ["policy.evaluated", "approval.requested", "approval.decided"])
        }))
      }))

    it.scoped("a declared action over its rate fails its step with Throttled (the workflow catches it), recorded on the run", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withEngine(db, Live, Effect.gen(function*() {
          const { policies } = yield* services
          yield* sideEffects.setup
          yield* policies.activate({
            version: "rate",
            default: { decide: "allow" },
            rules: [{
              id: "one-payment-per-environment",
              match: { action: "finance.payment.execute" },
              decide: "throttle",
              throttle: { key: "pay:{labels.environment}", limit: 1, window: "1 minute" }
            }]
          }, { by: "ops" })
          const first = yield* Payout.start({ id: "p-rate-1", amount: 1, environment: "test" })
          yield* GatehouseTest.settle
          const second = yield* Payout.start({ id: "p-rate-2", amount: 2, environment: "test" })
          yield* GatehouseTest.settle
          assert.deepStrictEqual(yield* Payout.result(first), Exit.succeed("paid 1"))
          const throttled = yield* Payout.result(second)
          assert(Exit.isSuccess(throttled))
          assert.match(throttled.value, /^throttled until \d+$/)
          assert.strictEqual(yield* sideEffects.count(second, "paid"), 0)
          // The next window admits again; the throttled run does not retry by itself. (A short window: under
          // TestClock every poll of the runner in between runs.)
          yield* TestClock.adjust("1 minute")
          const third = yield* Payout.start({ id: "p-rate-3", amount: 3, environment: "test" })
          yield* GatehouseTest.settle
          assert.deepStrictEqual(yield* Payout.result(third), Exit.succeed("paid 3"))
          const evaluations = yield* policies.evaluations(second)
          assert.deepStrictEqual(evaluations.map((e) => [e.nodeId ?? "start", e.decision.decide]), [
            ["start", "allow"],
            ["pay", "throttle"]
          ])
        }))
      }))

    it.scoped("a policy activated between request and decision: one that would deny refuses with PolicyChanged; one that changes nothing lets it through", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withEngine(db, Live, Effect.gen(function*() {
          const { approvals, policies } = yield* services
          yield* sideEffects.setup
          const v1 = yield* policies.activate(policyV1, { by: "ops" })
          const blocked = yield* Payout.start({ id: "p-blocked", amount: 5000, environment: "production" })
          const passes = yield* Payout.start({ id: "p-passes", amount: 7000, environment: "production" })
          yield* GatehouseTest.settle

          // v2 changes nothing about large payments.
          const v2 = yield* policies.activate(
            { ...policyV1, version: "v2", rules: [...policyV1.rules, { id: "reads", match: { action: "knowledge.read" }, decide: "allow" }] },
            { by: "ops" }
          )
          const finance = { id: "fiona", roles: ["finance"] }
          const through = yield* approvals.decide({ runId: passes, nodeId: "pay/policy-approval", verdict: "approve", by: finance })
          assert.strictEqual(through.status, "decided")
          const decidedEntry = (yield* Audit.forRun(passes)).find((entry) => entry.action === "approval.decided")
          assert.deepStrictEqual((decidedEntry?.data as { snapshots: unknown }).snapshots, [v1.snapshotId, v2.snapshotId])

          // v3 denies large production payments outright.
          const v3 = yield* policies.activate(
            {
              ...policyV1,
              version: "v3",
              rules: [{ id: "freeze", match: { action: "finance.*" }, decide: "deny", reason: "payments are frozen" }]
            },
            { by: "ops" }
          )
          const refused = yield* approvals.decide({ runId: blocked, nodeId: "pay/policy-approval", verdict: "approve", by: finance })
            .pipe(Effect.flip)
          assert(refused._tag === "PolicyChanged")
          assert.strictEqual(refused.requestedUnder, v1.snapshotId)
          assert.strictEqual(refused.activeSnapshot, v3.snapshotId)
          assert.strictEqual(refused.decides, "deny")
          assert.strictEqual(refused.outcome, "denied")
          yield* GatehouseTest.settle
          const result = yield* Payout.result(blocked)
          assert(Exit.isFailure(result))
          assert.strictEqual(yield* sideEffects.count(blocked, "paid"), 0)
          assert.strictEqual((yield* approvals.get({ runId: blocked, nodeId: "pay/policy-approval" })).status, "denied")
          // The policy decided it: listed as decided by "policy", as its audit entry says.
          const byPolicy = yield* approvals.list({ decidedBy: "policy" })
          assert.deepStrictEqual(byPolicy.approvals.map((approval) => [approval.runId, approval.status]), [[blocked, "denied"]])
          assert.deepStrictEqual(yield* Payout.result(passes), Exit.succeed("paid 7000"))
          const verification = yield* Audit.verify
          assert.isTrue(verification.valid, JSON.stringify(verification) + JSON.stringify(yield* Audit.forRun(blocked)))
        }))
      }))

    it.scoped("a policy that requires other reviewers re-issues the approval to them", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withEngine(db, Live, Effect.gen(function*() {
          const { approvals, policies } = yield* services
          yield* sideEffects.setup
          yield* policies.activate(policyV1, { by: "ops" })
          const runId = yield* Payout.start({ id: "p-reissue", amount: 5000, environment: "production" })
          yield* GatehouseTest.settle
          yield* policies.activate({
            ...policyV1,
            version: "v2",
            rules: [{ ...policyV1.rules[0], approval: { reviewers: { roles: ["treasury"] } } }]
          }, { by: "ops" })
          const address = { runId, nodeId: "pay/policy-approval" }
          const refused = yield* approvals.decide({ ...address, verdict: "approve", by: { id: "fiona", roles: ["finance"] } })
            .pipe(Effect.flip)
          assert(refused._tag === "PolicyChanged")
          assert.strictEqual(refused.outcome, "reissued")
          const reissued = yield* approvals.get(address)
          assert.deepStrictEqual(reissued.reviewers.roles, ["treasury"])
          assert.strictEqual(reissued.status, "waiting-approval")
          // Bound to the new snapshot now: the treasury's approval goes through.
          const decided = yield* approvals.decide({ ...address, verdict: "approve", by: { id: "tom", roles: ["treasury"] } })
          assert.strictEqual(decided.status, "decided")
          yield* GatehouseTest.settle
          assert.deepStrictEqual(yield* Payout.result(runId), Exit.succeed("paid 5000"))
        }))
      }))

    it.scoped("an invalid policy is refused with the path of the bad field and the active one stays", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withEngine(db, Live, Effect.gen(function*() {
          const { policies } = yield* services
          const v1 = yield* policies.activate(policyV1, { by: "ops" })
          const bad = yield* policies.activate(
            { ...policyV1, version: "v2", rules: [{ id: "x", decide: "throttle", throttle: { key: "k", limit: -1, window: "1 minute" } }] },
            { by: "ops" }
          ).pipe(Effect.flip)
          assert.strictEqual(bad._tag, "InvalidPolicy")
          assert(bad._tag === "InvalidPolicy")
          assert.strictEqual(bad.path, "rules[0].throttle.limit")
          assert.strictEqual(Option.getOrThrow(yield* policies.active).snapshotId, v1.snapshotId)
          assert.strictEqual((yield* policies.history()).length, 1)
        }))
      }))

    it.scoped("a start under require_human waits on the policy/start approval before its body runs", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withEngine(db, Live, Effect.gen(function*() {
          const { approvals, policies, workflows } = yield* services
          yield* sideEffects.setup
          yield* policies.activate({
            ...policyV1,
            rules: [policyV1.rules[4]]
          }, { by: "ops" })
          const runId = yield* Report.start({ id: "r-audited", tenant: "audited" }, { labels: { tenant: "audited" }, startedBy: "carol" })
          yield* GatehouseTest.settle
          assert.strictEqual((yield* workflows.poll(runId)).status, "waiting-approval")
          assert.strictEqual(yield* sideEffects.count(runId, "written"), 0)
          const gate = yield* approvals.get({ runId, nodeId: "policy/start" })
          assert.deepStrictEqual(gate.reviewers.users, ["auditor"])
          assert.strictEqual(gate.title, "Start report?")
          yield* approvals.decide({ runId, nodeId: "policy/start", verdict: "approve", by: "auditor" })
          yield* GatehouseTest.settle
          assert.deepStrictEqual(yield* Report.result(runId), Exit.succeed("report for audited"))
          assert.strictEqual(yield* sideEffects.count(runId, "written"), 1)
        }))
      }))
  
    it.scoped("backtest: a draft over 10,000 recorded actions, its counts as computed by hand", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        yield* withEngine(db, Live, Effect.gen(function*() {
          const { policies, sql } = yield* services
          const now = yield* Clock.currentTimeMillis
          // 9,990 payments recorded as allowed, then 10 reports at one instant.
          const payment = (i: number) => ({
            workflow: "payout",
            action: "finance.payment.execute",
            labels: { environment: i % 4 === 0 ? "sandbox" : "production" },
            input: { amount: i % 2000 }
          })
          const rows = Array.from({ length: 10_000 }, (_, i) => {
            const action = i < 9_990 ? payment(i) : { workflow: "report", labels: { tenant: "acme" }, input: { n: i } }
            return {
              run_id: `run-${i}`,
              workflow: action.workflow,
              action_name: "action" in action ? action.action : null,
              snapshot_id: "old@0",
              rule_id: null,
              decision: JSON.stringify({ decide: "allow" }),
              action: JSON.stringify(action),
              action_hash: "h",
              created_at: i < 9_990 ? now - (i % 5) * 3_600_000 : now - 60_000
            }
          })
          for (let i = 0; i < rows.length; i += 500) {
            yield* sql`INSERT INTO gatehouse_policy_evaluations ${sql.insert(rows.slice(i, i + 500))}`
          }
          const report = yield* policies.backtest(policyV1, { days: 1 })
          // By hand: payments i in [0, 9990). Sandbox (i % 4 == 0): 0, 4, …, 9988 → 2,498 denied.
          // Production over 1000 (i % 2000 in 1001..1999, not a multiple of 4): 750 in each of the 4 full
          // blocks of 2,000, and in 8000..9989 the values 1001..1989 less the 247 multiples of 4 in
          // 1004..1988 → 742; 3,742 approvals for finance. Reports: 2 per minute per tenant → 8 throttled.
          assert.strictEqual(report.actions, 10_000)
          assert.strictEqual(report.changed, 2_498 + 3_742 + 8)
          assert.deepStrictEqual(report.transitions, [
            { from: "allow", to: "require_human", count: 3_742 },
            { from: "allow", to: "deny", count: 2_498 },
            { from: "allow", to: "throttled", count: 8 }
          ])
          assert.deepStrictEqual(report.approvalsByReviewers, [{ reviewers: "roles: finance", count: 3_742 }])
          assert.strictEqual(report.throttleHits, 8)
          assert.strictEqual(report.examples.length, 20)
          assert.isFalse(report.truncated)
          // Reads only: nothing was activated.
          assert.isTrue(Option.isNone(yield* policies.active))
          const outside = yield* policies.backtest(policyV1, { days: 0 }).pipe(Effect.flip)
          assert.strictEqual(outside._tag, "InvalidPolicyRequest")
        }))
      }))
  })

