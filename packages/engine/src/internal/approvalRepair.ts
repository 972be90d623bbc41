/**
 * The approvals of a repaired run (`Workflows.resume`, `Workflows.fork`): finding the decision an approval
 * had before, and recording that it still holds. Whether it holds is `approvalReuse.ts`'s rule; asking
 * again is the ordinary request, with the earlier decision kept as `previous` (`approvalRequest.ts`).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { WorkflowInstanceShape } from "../WorkflowInstance.js"
import * as Instance from "./instance.js"
import type { NodeRow, VoteRow } from "./rows.js"
import type * as Rows from "./rows.js"
import type { ApprovalRow, ApprovalStatus } from "./storage/approvals.js"

/** An approval's earlier decision and the votes of its rounds. @internal */
export interface Earlier {
  readonly prior: ApprovalRow
  readonly votes: ReadonlyArray<VoteRow>
}

/**
 * The approval `nodeId` had before the run was repaired: for a resumed run its own, for a fork its
 * origin's if the origin reached it before the node the fork ran again from. None for a run never
 * repaired, which costs nothing.
 *
 * @internal
 */
export const earlier = (instance: WorkflowInstanceShape, nodeId: string): Effect.Effect<Option.Option<Earlier>> =>
  Effect.gen(function*() {
    const state = Instance.stateOf(instance)
    const repair = state.repair
    if (repair === undefined) return Option.none()
    const { approvals, journal } = state.storage
    if (repair.beforeSeq !== undefined) {
      const node = yield* Instance.storage(instance, journal.getNode(repair.runId, nodeId))
      if (Option.isNone(node) || node.value.kind !== "approval" || node.value.seq >= repair.beforeSeq) {
        return Option.none()
      }
    }
    const prior = yield* Instance.storage(instance, approvals.get(repair.runId, nodeId))
    if (Option.isNone(prior)) return Option.none()
    const votes = yield* Instance.storage(instance, approvals.votes(repair.runId, nodeId))
    return Option.some({ prior: prior.value, votes })
  })

/**
 * What the reviewers of an approval asked again are shown of the decision it had.
 *
 * @internal
 */
export const previousOf = (prior: ApprovalRow, reasons: ReadonlyArray<string>): typeof Rows.PreviousDecision.Type => {
  const decision = prior.decision as { readonly decidedBy?: string; readonly decidedAt?: number; readonly note?: string } | undefined
  return {
    runId: prior.runId,
    status: prior.status,
    ...(decision?.decidedBy !== undefined ? { decidedBy: decision.decidedBy } : {}),
    ...(decision?.decidedAt !== undefined ? { decidedAt: decision.decidedAt } : {}),
    ...(decision?.note !== undefined ? { note: decision.note } : {}),
    requestHash: prior.requestHash,
    reasons
  }
}

/**
 * Records that an earlier decision holds for the request made now: the approval (the run's own row made
 * current again, or a new one for a fork) is stored decided as it was, its node too, with an audit entry
 * and an event saying whose decision was reused. Returns the decided node.
 *
 * @internal
 */
export const reuse = (
  instance: WorkflowInstanceShape,
  nodeId: string,
  row: ApprovalRow,
  prior: ApprovalRow
): Effect.Effect<NodeRow> =>
  Effect.gen(function*() {
    const state = Instance.stateOf(instance)
    const { approvals, audit, events, transaction } = state.storage
    const now = yield* Clock.currentTimeMillis
    const decision = prior.decision as { readonly decidedBy?: string; readonly decidedAt?: number } | undefined
    const from = { runId: prior.runId, nodeId, decidedBy: decision?.decidedBy, decidedAt: decision?.decidedAt }
    const node = yield* Effect.gen(function*() {
      yield* Instance.storage(instance, state.store.lockRun(instance.runId))
      const node = yield* Instance.ensure(instance, { nodeId, kind: "approval", status: "waiting-approval" })
      yield* Instance.storage(
        instance,
        Effect.all([
          prior.runId === instance.runId ? approvals.reopen(row) : approvals.insert(row),
          approvals.settle({
            runId: instance.runId,
            nodeId,
            status: prior.status as ApprovalStatus,
            decision: prior.decision,
            now
          }),
          events.append({ runId: instance.runId, nodeId, type: "approval.reused", data: from, now }),
          audit.append({
            runId: instance.runId,
            nodeId,
            action: "approval.reused",
            actor: "system",
            requestHash: row.requestHash,
            data: from,
            now
          })
        ], { discard: true })
      )
      return node
    }).pipe(transaction, (effect) => Instance.storage(instance, effect))
    const decided: NodeRow = { ...node, status: prior.status as NodeRow["status"], exit: prior.decision, completedAt: now }
    state.journal.set(nodeId, decided)
    return decided
  })
