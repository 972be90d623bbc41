/**
 * Where the engine applies the active policy: at a run's start (`Workflows.start`), at a declared action
 * (`Step.run(id, effect, { action })`) and, for approvals a rule created, again at decide time. The
 * evaluation itself is `Policy.evaluate`; here are the active policy, the durable throttle windows, what
 * each decision does, and the approval request a `require_human` decision becomes.
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Approval from "../Approval.js"
import * as Policy from "../Policy.js"
import * as Run from "../Run.js"
import { WorkflowInstance as WorkflowInstanceTag, type WorkflowInstanceShape } from "../WorkflowInstance.js"
import * as ApprovalRequest from "./approvalRequest.js"
import * as Instance from "./instance.js"
import type * as Storage from "./storage/storage.js"
import type * as Rows from "./rows.js"

/** Evaluations, by decision (`gatehouse_policy_evaluations_total{decision}`). @internal */
export const evaluations = Metric.counter("gatehouse_policy_evaluations_total", {
  description: "Policy evaluations at run starts and declared actions, by decision",
  incremental: true
})

// A snapshot id names one document forever (it contains its hash): decode each once per process.
const decoded = new Map<string, Policy.Policy>()

/** The policy a stored row holds. @internal */
export const policyOf = (row: Rows.ActivePolicyRow): Effect.Effect<Policy.Policy, SqlError> => {
  const cached = decoded.get(row.snapshotId)
  if (cached !== undefined) return Effect.succeed(cached)
  return Policy.decode(row.document).pipe(
    Effect.map((policy) => ({ ...policy, snapshotId: row.snapshotId })),
    Effect.tap((policy) => Effect.sync(() => decoded.set(row.snapshotId, policy))),
    Effect.orDie
  )
}

/** What the active policy says about an action, its throttle counted. @internal */
export type Verdict =
  | { readonly _tag: "NoPolicy" }
  | { readonly _tag: "Allow"; readonly evaluation: Policy.Evaluation }
  | { readonly _tag: "Deny"; readonly evaluation: Policy.Evaluation; readonly reason: string }
  | {
    readonly _tag: "Throttled"
    readonly evaluation: Policy.Evaluation
    readonly key: string
    readonly limit: number
    readonly retryAt: number
  }
  | { readonly _tag: "RequireHuman"; readonly evaluation: Policy.Evaluation; readonly approval: Policy.HumanApproval }

/** What a policy check reads and counts: the active policy and the throttle windows. @internal */
export type PolicyReads = Pick<Storage.Policies, "active" | "admit">

/** The active policy, if one was ever activated. @internal */
export const activeIn = (policies: PolicyReads): Effect.Effect<Option.Option<Policy.Policy>, SqlError> =>
  policies.active.pipe(
    Effect.flatMap(Option.match({
      onNone: () => Effect.succeedNone,
      onSome: (row) => Effect.asSome(policyOf(row))
    }))
  )

/** Evaluates the active policy for `action` and counts a throttled action against its window. @internal */
export const checkIn = (
  policies: PolicyReads,
  action: Policy.Action,
  now: number
): Effect.Effect<Verdict, SqlError> =>
  Effect.flatMap(activeIn(policies), (policy) =>
    Option.isNone(policy) ? Effect.succeed({ _tag: "NoPolicy" } as const) : verdictIn(policies, policy.value, action, now))

/** Evaluates `policy` for `action` and counts a throttled action against its window. @internal */
export const verdictIn = (
  policies: PolicyReads,
  policy: Policy.Policy,
  action: Policy.Action,
  now: number
): Effect.Effect<Verdict, SqlError> =>
  Effect.gen(function*() {
    const evaluation = Policy.evaluate(policy, action)
    const decision = evaluation.decision
    const verdict: Verdict = yield* Effect.gen(function*() {
      switch (decision.decide) {
        case "allow":
          return { _tag: "Allow", evaluation } as const
        case "deny":
          return { _tag: "Deny", evaluation, reason: decision.reason } as const
        case "require_human":
          return { _tag: "RequireHuman", evaluation, approval: decision.approval } as const
        case "throttle": {
          const window = Policy.windowOf(decision.throttle, now)
          const key = Policy.throttleKey(decision.throttle.key, action)
          const admitted = yield* policies.admit({ key, windowStart: window.start, limit: decision.throttle.limit })
          return admitted
            ? { _tag: "Allow", evaluation } as const
            : { _tag: "Throttled", evaluation, key, limit: decision.throttle.limit, retryAt: window.end } as const
        }
      }
    })
    yield* Metric.increment(Metric.tagged(evaluations, "decision", verdict._tag === "Throttled" ? "throttled" : decision.decide))
    return verdict
  })

/** The binding an approval created by `verdict` carries. @internal */
export const bindingOf = (action: Policy.Action, evaluation: Policy.Evaluation): Rows.PolicyBinding => ({
  snapshotId: evaluation.snapshotId,
  ...(evaluation.ruleId !== undefined ? { ruleId: evaluation.ruleId } : {}),
  actionHash: evaluation.actionHash,
  action,
  decision: evaluation.decision
})

/** A policy's reviewers as `Approval.request` takes them. @internal */
export const reviewersOf = (reviewers: Policy.Reviewers): Approval.Reviewers => ({
  ...(reviewers.users !== undefined ? { users: reviewers.users } : {}),
  ...(reviewers.roles !== undefined ? { roles: reviewers.roles } : {}),
  ...(reviewers.quorum !== undefined ? { quorum: reviewers.quorum } : {}),
  ...(reviewers.allowSelfApproval !== undefined ? { allowSelfApproval: reviewers.allowSelfApproval } : {})
})

/** The approval request a `require_human` decision puts before the action (or the run's body). @internal */
export const requestOf = (approval: Policy.HumanApproval, binding: Rows.PolicyBinding): Approval.Request<never> => {
  const { action } = binding
  const what = action.action === undefined ? `Start ${action.workflow}` : `Allow ${action.action}`
  const onTimeout = approval.onTimeout
  return {
    title: approval.title ?? `${what}?`,
    summary: `Required by policy ${binding.snapshotId}, ${
      binding.ruleId === undefined ? "its default decision" : `rule ${binding.ruleId}`
    }.`,
    metadata: {
      workflow: action.workflow,
      ...(action.action !== undefined ? { action: action.action } : {}),
      labels: action.labels ?? {},
      ...(action.actor !== undefined ? { actor: action.actor } : {}),
      ...(binding.ruleId !== undefined ? { rule: binding.ruleId } : {}),
      snapshot: binding.snapshotId
    },
    ...(action.input !== undefined ? { reviewed: action.input } : {}),
    reviewers: reviewersOf(approval.reviewers),
    onDeny: "fail",
    ...(approval.timeout !== undefined ? { timeout: approval.timeout as Duration.DurationInput } : {}),
    ...(onTimeout === undefined
      ? {}
      : typeof onTimeout === "string"
      ? { onTimeout }
      : {
        onTimeout: {
          escalateTo: reviewersOf(onTimeout.escalateTo),
          timeout: onTimeout.timeout as Duration.DurationInput
        }
      })
  }
}

const requestExtra = (id: string, binding: Rows.PolicyBinding): ApprovalRequest.RequestExtra => ({
  baseId: id,
  revision: 0,
  allowRequestChanges: false,
  maxRevisions: undefined,
  binding
})

/** The node id of the approval the policy puts before a run's body. @internal */
export const startGateNodeId = "policy/start"

/** Before the body: the approval the policy required when the run started, if it did. @internal */
export const startGate = (instance: WorkflowInstanceShape): Effect.Effect<void, never, never> =>
  Effect.suspend(() => {
    const gate = Instance.stateOf(instance).startGate
    if (gate === undefined) return Effect.void
    return ApprovalRequest.request(startGateNodeId, requestOf(gate.approval, gate.binding), requestExtra(startGateNodeId, gate.binding))
      .pipe(Effect.asVoid, Effect.provideService(WorkflowInstanceTag, instance))
  })

/** What a declared action's evaluation recorded in the journal: replayed, never evaluated again. */
const Recorded = Schema.Union(
  Schema.Struct({ decide: Schema.Literal("none", "allow") }),
  Schema.Struct({ decide: Schema.Literal("deny"), snapshotId: Schema.String, ruleId: Schema.optional(Schema.String), reason: Schema.String }),
  Schema.Struct({
    decide: Schema.Literal("throttled"),
    snapshotId: Schema.String,
    ruleId: Schema.optional(Schema.String),
    key: Schema.String,
    limit: Schema.Number,
    retryAt: Schema.Number
  }),
  Schema.Struct({ decide: Schema.Literal("require_human"), approval: Policy.HumanApproval, binding: Schema.Unknown })
)
type Recorded = typeof Recorded.Type

/**
 * A declared action (`Step.run(id, effect, { action })`): evaluated once per run and journaled under
 * `${id}/policy`, so a replay follows the same path whatever the active policy is by then. `deny` fails the
 * run with `PolicyDenied`; over its rate the step fails with `Throttled`; `require_human` puts an approval
 * (`${id}/policy-approval`) before the step.
 *
 * @internal
 */
export const declaredAction = (
  instance: WorkflowInstanceShape,
  id: string,
  declared: { readonly action: string; readonly input?: unknown; readonly labels?: Record<string, string> | undefined }
): Effect.Effect<void, Policy.Throttled> =>
  Effect.gen(function*() {
    const nodeId = `${id}/policy`
    const state = Instance.stateOf(instance)
    const recordedNode = yield* Instance.lookup(instance, nodeId, "step")
    let recorded: Recorded
    if (Option.isSome(recordedNode) && recordedNode.value.status === "completed") {
      recorded = yield* Schema.decodeUnknown(Recorded)(recordedNode.value.exit).pipe(Effect.orDie)
    } else {
      const action = yield* Schema.decodeUnknown(Policy.Action)({
        workflow: instance.workflow,
        action: declared.action,
        ...(declared.labels !== undefined ? { labels: declared.labels } : {}),
        ...(instance.startedBy !== undefined ? { actor: instance.startedBy } : {}),
        ...(declared.input !== undefined ? { input: declared.input } : {})
      }).pipe(
        Effect.catchAll((error) =>
          Instance.failFatal(instance, new Run.InvalidNode({ runId: instance.runId, nodeId: id, reason: `action: ${error.message}` }))
        )
      )
      const now = yield* Clock.currentTimeMillis
      const verdict = yield* Instance.storage(instance, checkIn(state.storage.policies, action, now))
      recorded = recordedOf(verdict, action)
      if (verdict._tag !== "NoPolicy") {
        yield* Instance.storage(
          instance,
          state.storage.policies.recordEvaluation({
            runId: instance.runId,
            nodeId: id,
            evaluation: verdict.evaluation,
            action,
            actor: `workflow:${instance.workflow}`,
            now
          })
        )
      }
      yield* Instance.checkpoint(instance, { nodeId, kind: "step", status: "completed", exit: recorded, attempt: 1 })
    }
    switch (recorded.decide) {
      case "none":
      case "allow":
        return
      case "deny":
        return yield* Instance.failFatal(
          instance,
          new Policy.PolicyDenied({
            workflow: instance.workflow,
            action: declared.action,
            runId: instance.runId,
            snapshotId: recorded.snapshotId,
            ...(recorded.ruleId !== undefined ? { ruleId: recorded.ruleId } : {}),
            reason: recorded.reason
          })
        )
      case "throttled":
        return yield* new Policy.Throttled({
          workflow: instance.workflow,
          action: declared.action,
          runId: instance.runId,
          snapshotId: recorded.snapshotId,
          ...(recorded.ruleId !== undefined ? { ruleId: recorded.ruleId } : {}),
          key: recorded.key,
          limit: recorded.limit,
          retryAt: recorded.retryAt
        })
      case "require_human": {
        const binding = recorded.binding as Rows.PolicyBinding
        const approvalId = `${id}/policy-approval`
        yield* ApprovalRequest.request(approvalId, requestOf(recorded.approval, binding), requestExtra(approvalId, binding)).pipe(
          Effect.provideService(WorkflowInstanceTag, instance)
        )
        return
      }
    }
  })

const recordedOf = (verdict: Verdict, action: Policy.Action): Recorded => {
  switch (verdict._tag) {
    case "NoPolicy":
      return { decide: "none" }
    case "Allow":
      return { decide: "allow" }
    case "Deny":
      return {
        decide: "deny",
        snapshotId: verdict.evaluation.snapshotId,
        ...(verdict.evaluation.ruleId !== undefined ? { ruleId: verdict.evaluation.ruleId } : {}),
        reason: verdict.reason
      }
    case "Throttled":
      return {
        decide: "throttled",
        snapshotId: verdict.evaluation.snapshotId,
        ...(verdict.evaluation.ruleId !== undefined ? { ruleId: verdict.evaluation.ruleId } : {}),
        key: verdict.key,
        limit: verdict.limit,
        retryAt: verdict.retryAt
      }
    case "RequireHuman":
      return { decide: "require_human", approval: verdict.approval, binding: bindingOf(action, verdict.evaluation) }
  }
}
