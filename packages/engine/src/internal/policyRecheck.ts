/**
 * The decide-time check of an approval a policy rule required: when another policy was activated since
 * the request, the stored action is evaluated again under it. The same human decision with the same
 * reviewers lets the decision through (recording both snapshots); anything else refuses it with
 * `PolicyChanged` and does to the approval what the new policy says — re-issued to the new reviewers,
 * denied, approved, or left waiting (a throttle is counted when the action runs, not here).
 *
 * Runs inside the decision's transaction, after the run's and the approval's locks.
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Policy from "../Policy.js"
import { storedReviewers } from "./approvalRequest.js"
import * as PolicyGate from "./policyGate.js"
import type { ApprovalRow } from "./storage/approvals.js"
import type { StorageService } from "./storage/storage.js"

/** @internal */
export type Recheck =
  | { readonly _tag: "Unbound" }
  | { readonly _tag: "Same"; readonly from: string; readonly to: string }
  | {
    readonly _tag: "Changed"
    readonly change: {
      readonly requestedUnder: string
      readonly activeSnapshot: string
      readonly decides: Policy.Decision["decide"]
      readonly outcome: "reissued" | "denied" | "approved" | "unchanged"
    }
  }

/** @internal */
export const recheckIn = (
  storage: StorageService,
  approval: ApprovalRow,
  now: number
): Effect.Effect<Recheck, SqlError> =>
  Effect.gen(function*() {
    const binding = approval.policy.binding
    if (binding === undefined) return { _tag: "Unbound" } as const
    const active = yield* PolicyGate.activeIn(storage.policies)
    if (Option.isNone(active) || active.value.snapshotId === binding.snapshotId) return { _tag: "Unbound" } as const
    const policy = active.value
    const evaluation = Policy.evaluate(policy, binding.action)
    const decision = evaluation.decision
    if (Policy.sameHumanDecision(decision, binding.decision)) {
      return { _tag: "Same", from: binding.snapshotId, to: policy.snapshotId } as const
    }
    const approvals = storage.approvals
    const address = { runId: approval.runId, nodeId: approval.nodeId }
    const change = { requestedUnder: binding.snapshotId, activeSnapshot: policy.snapshotId, decides: decision.decide }
    const rule = evaluation.ruleId === undefined ? "its default decision" : `rule ${evaluation.ruleId}`
    const audit = (action: string, data: unknown, note?: string) =>
      storage.audit.append({ ...address, action, actor: "policy", requestHash: approval.requestHash, note, data, now })
    switch (decision.decide) {
      case "require_human": {
        const reviewers = storedReviewers(PolicyGate.reviewersOf(decision.approval.reviewers))
        const newBinding = PolicyGate.bindingOf(binding.action, evaluation)
        yield* approvals.reissue({ ...address, reviewers, policy: { ...approval.policy, binding: newBinding }, now })
        yield* storage.events.append({
          ...address,
          type: "approval.reissued",
          actor: "policy",
          data: { snapshotId: policy.snapshotId, reviewers },
          now
        })
        yield* audit("approval.reissued", { from: binding.snapshotId, to: policy.snapshotId, reviewers })
        return { _tag: "Changed", change: { ...change, outcome: "reissued" } } as const
      }
      case "deny":
      case "allow": {
        const approved = decision.decide === "allow"
        const note = approved
          ? `Policy ${policy.snapshotId} (${rule}) now allows the action`
          : `Policy ${policy.snapshotId} (${rule}) now denies the action: ${decision.reason}`
        const status = approved ? "approved" as const : "denied" as const
        const recorded = { approved, outcome: status, note, decidedBy: "policy", decidedAt: now }
        const settled = yield* approvals.settle({ ...address, status, decision: recorded, now })
        if (settled) {
          yield* approvals.recordDecider(approval.runId, approval.nodeId, "policy")
          yield* storage.runs.wake(approval.runId, now)
          yield* storage.events.append({
            ...address,
            type: "approval.decided",
            actor: "policy",
            data: { verdict: approved ? "approve" : "deny", revision: approval.revision },
            now
          })
          yield* audit("approval.decided", { verdict: approved ? "approve" : "deny", snapshotId: policy.snapshotId }, note)
        }
        return { _tag: "Changed", change: { ...change, outcome: status } } as const
      }
      case "throttle":
        return { _tag: "Changed", change: { ...change, outcome: "unchanged" } } as const
    }
  })
