/**
 * The errors of approvals and decisions. Public as `Approvals.*` (re-exported by `Approvals.ts`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Events from "../../Events.js"
import type * as Policy from "../../Policy.js"
import { ApprovalStatus, ConflictReason, Verdict } from "./models.js"

/**
 * @since 0.1.0
 * @category errors
 */
export class ApprovalNotFound extends Schema.TaggedError<ApprovalNotFound>("@gatehouse/engine/ApprovalNotFound")(
  "ApprovalNotFound",
  { runId: Schema.String, nodeId: Schema.String }
) {
  override get message(): string {
    return `No approval "${this.nodeId}" in run "${this.runId}"`
  }
}

/**
 * The decision can no longer be recorded: another decision already won (anything but an exact repeat of
 * it), the approval timed out, was canceled or its run ended, or its deadline has passed.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecisionConflict extends Schema.TaggedError<DecisionConflict>("@gatehouse/engine/DecisionConflict")(
  "DecisionConflict",
  {
    runId: Schema.String,
    nodeId: Schema.String,
    status: ApprovalStatus,
    attempted: Verdict,
    reason: Schema.optional(ConflictReason)
  }
) {
  override get message(): string {
    const prefix = `Approval "${this.nodeId}" of run "${this.runId}"`
    const suffix = `"${this.attempted}" was not recorded`
    switch (this.reason) {
      case "deadline-passed":
        return `${prefix} is past its deadline (${this.status === "timed-out" ? "it times out" : "it escalates"}); ${suffix}`
      case "run-ended":
        return `${prefix} belongs to a run that has ended; ${suffix}`
      case "voted-otherwise":
        return `${prefix}: this reviewer already voted otherwise in this round; ${suffix}`
      default:
        return `${prefix} is already ${this.status}; ${suffix}`
    }
  }
}

/**
 * The request the reviewer saw is not the current one (a newer revision replaced it).
 *
 * @since 0.1.0
 * @category errors
 */
export class StaleApproval extends Schema.TaggedError<StaleApproval>("@gatehouse/engine/StaleApproval")(
  "StaleApproval",
  { runId: Schema.String, nodeId: Schema.String, expected: Schema.String, actual: Schema.String }
) {
  override get message(): string {
    return `Approval "${this.nodeId}" changed since the reviewer saw it (request hash ${this.actual.slice(0, 12)}…, ` +
      `current ${this.expected.slice(0, 12)}…)`
  }
}

/**
 * @since 0.1.0
 * @category errors
 */
export class NotAuthorized extends Schema.TaggedError<NotAuthorized>("@gatehouse/engine/NotAuthorized")(
  "NotAuthorized",
  { runId: Schema.String, nodeId: Schema.String, reviewer: Schema.String, reason: Schema.String }
) {
  override get message(): string {
    return `${this.reviewer} may not decide approval "${this.nodeId}": ${this.reason}`
  }
}

/**
 * The decision itself is not acceptable: malformed, over a size limit, a verdict the node does not
 * accept, or a payload that fails the node's schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidDecision extends Schema.TaggedError<InvalidDecision>("@gatehouse/engine/InvalidDecision")(
  "InvalidDecision",
  { reason: Schema.String }
) {
  override get message(): string {
    return `Invalid decision: ${this.reason}`
  }
}

/**
 * A list cursor that is not one this API returned (or was read in another order): the `cursor` option
 * is refused, nothing was read. The same error as `Events.InvalidCursor`.
 *
 * @since 0.1.0
 * @category errors
 */
export const InvalidCursor: typeof Events.InvalidCursor = Events.InvalidCursor

/**
 * @since 0.1.0
 * @category errors
 */
export type InvalidCursor = Events.InvalidCursor

/**
 * @since 0.1.0
 * @category models
 */
export type DecideError =
  | ApprovalNotFound
  | DecisionConflict
  | StaleApproval
  | NotAuthorized
  | InvalidDecision
  | Policy.PolicyChanged

