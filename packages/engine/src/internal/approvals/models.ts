/**
 * The approval models: what a reviewer is, what a decision carries, an approval as a reviewer reads it,
 * the inbox's pages and the actions an inbox may offer. Public as `Approvals.*` (re-exported by
 * `Approvals.ts`); plain schemas, nothing here reads or writes storage.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { JsonValue, Text } from "../json.js"
import { reviewerOf } from "./reviewer.js"

/**
 * @since 0.1.0
 * @category models
 */
export const ApprovalStatus = Schema.Literal(
  "waiting-approval",
  "approved",
  "denied",
  "changes-requested",
  "timed-out",
  "canceled"
)

/**
 * @since 0.1.0
 * @category models
 */
export type ApprovalStatus = typeof ApprovalStatus.Type

/**
 * @since 0.1.0
 * @category models
 */
export const Verdict = Schema.Literal("approve", "deny", "request-changes")

/**
 * @since 0.1.0
 * @category models
 */
export type Verdict = typeof Verdict.Type

/**
 * A reviewer: an id, and the roles the caller vouches for (the HTTP API takes them from the
 * authenticated identity).
 *
 * @since 0.1.0
 * @category models
 */
export const Reviewer = Schema.Struct({
  id: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200), Schema.compose(Text)),
  roles: Schema.optional(
    Schema.Array(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(100), Schema.compose(Text))).pipe(Schema.maxItems(50))
  )
})

/**
 * @since 0.1.0
 * @category models
 */
export type Reviewer = typeof Reviewer.Type

/**
 * A reviewer as a caller gives it: an id alone, or a `Reviewer` with roles. Decodes to a `Reviewer`, so
 * the rest of the engine sees one shape.
 *
 * @since 0.1.0
 * @category models
 */
export const ReviewerInput: Schema.Schema<Reviewer, string | typeof Reviewer.Encoded> = Schema.transform(
  Schema.Union(Reviewer.fields.id, Reviewer),
  Schema.typeSchema(Reviewer),
  { strict: true, decode: reviewerOf, encode: (reviewer) => reviewer }
)


/**
 * The limits a decision's note and payload must stay within.
 *
 * @since 0.1.0
 * @category models
 */
export const limits = { noteLength: 4000, payloadBytes: 64 * 1024 } as const

/**
 * A decision as submitted. Validated with this schema before anything is read or written: ids, the
 * reviewer, the note and the request hash are text without NUL characters, the payload JSON that survives
 * a round trip unchanged.
 *
 * @since 0.1.0
 * @category models
 */
export const DecideInput = Schema.Struct({
  runId: Schema.NonEmptyString.pipe(Schema.maxLength(300), Schema.compose(Text)),
  nodeId: Schema.NonEmptyString.pipe(Schema.maxLength(300), Schema.compose(Text)),
  verdict: Verdict,
  by: ReviewerInput,
  note: Schema.optional(Schema.String.pipe(Schema.maxLength(limits.noteLength), Schema.compose(Text))),
  /** JSON that round-trips unchanged: no `NaN`, `±Infinity`, `Date`, `undefined`, functions, cycles. */
  payload: Schema.optional(JsonValue),
  requestHash: Schema.optional(Schema.String.pipe(Schema.maxLength(128), Schema.compose(Text)))
})

/**
 * @since 0.1.0
 * @category models
 */
export type DecideInput = typeof DecideInput.Encoded

/**
 * @since 0.1.0
 * @category models
 */
export class Vote extends Schema.Class<Vote>("@gatehouse/engine/Approvals/Vote")({
  voter: Schema.String,
  verdict: Verdict,
  note: Schema.optional(Schema.String),
  payload: Schema.optional(Schema.Unknown),
  requestHash: Schema.String,
  /**
   * The escalation round the vote was cast in (0 before any escalation). Only the votes of the
   * approval's current round (`escalations`) count toward its quorum.
   */
  round: Schema.Number,
  createdAt: Schema.Number
}) {}

/**
 * An earlier decision of an approval that a resumed or forked run asked again, and why it did not hold.
 *
 * @since 0.1.0
 * @category models
 */
export const PreviousDecision = Schema.Struct({
  /** The run it was decided in: the run itself when resumed, the origin for a fork. */
  runId: Schema.String,
  status: Schema.String,
  decidedBy: Schema.optional(Schema.String),
  decidedAt: Schema.optional(Schema.Number),
  note: Schema.optional(Schema.String),
  requestHash: Schema.String,
  reasons: Schema.Array(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type PreviousDecision = typeof PreviousDecision.Type

/**
 * An approval with everything a reviewer needs to decide it.
 *
 * @since 0.1.0
 * @category models
 */
export class ApprovalRecord extends Schema.Class<ApprovalRecord>("@gatehouse/engine/Approvals/ApprovalRecord")({
  runId: Schema.String,
  nodeId: Schema.String,
  /** The review's id when the approval is a revision of `Approval.review`, else the node id. */
  baseId: Schema.String,
  workflow: Schema.String,
  status: ApprovalStatus,
  title: Schema.String,
  summary: Schema.optional(Schema.String),
  metadata: Schema.optional(Schema.Unknown),
  reviewed: Schema.optional(Schema.Unknown),
  requestHash: Schema.String,
  revision: Schema.Number,
  acceptsRequestChanges: Schema.Boolean,
  /** The number of revisions of the review this approval belongs to, when it is one. */
  maxRevisions: Schema.optional(Schema.Number),
  /** What the deadline does when it passes undecided: time the approval out, or escalate it. */
  atDeadline: Schema.Literal("time-out", "escalate"),
  /** What a time-out counts as: a denial (the node's `onDeny` applies) or the run's failure. */
  onTimeout: Schema.Literal("deny", "fail"),
  /** Who a deadline escalates the approval to, while an escalation is still ahead. */
  escalateTo: Schema.optional(Schema.Struct({
    users: Schema.Array(Schema.String),
    roles: Schema.Array(Schema.String),
    quorum: Schema.Number
  })),
  /** JSON Schema of the payload an approval must carry, when the node declares one. */
  decisionSchema: Schema.optional(Schema.Unknown),
  deadline: Schema.optional(Schema.Number),
  reviewers: Schema.Struct({
    users: Schema.Array(Schema.String),
    roles: Schema.Array(Schema.String),
    quorum: Schema.Number,
    denyQuorum: Schema.Number,
    allowSelfApproval: Schema.Boolean
  }),
  onDeny: Schema.Literal("fail", "continue"),
  startedBy: Schema.optional(Schema.String),
  /** How many times it was escalated: the current round of votes. */
  escalations: Schema.Number,
  decision: Schema.optional(Schema.Unknown),
  /** Every vote, of every round (only with `get` and `decide`). */
  votes: Schema.optional(Schema.Array(Vote)),
  requestedAt: Schema.Number,
  decidedAt: Schema.optional(Schema.Number),
  /**
   * The decision this approval had before its run was resumed or forked, and why it was asked again
   * instead of reused (the request changed, the policy gives another outcome, the decision expired, a
   * reviewer who decided may no longer decide, ...).
   */
  previous: Schema.optional(PreviousDecision)
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export class DecideResult extends Schema.Class<DecideResult>("@gatehouse/engine/Approvals/DecideResult")({
  /** `decided`: this call settled the approval; `vote-recorded`: counted toward a quorum not yet reached. */
  status: Schema.Literal("decided", "already-decided", "vote-recorded"),
  approval: ApprovalRecord,
  /**
   * `true` when the reviewer had already cast this vote (same verdict and payload) in this round: this call
   * changed nothing, and the first vote (its note included) stands. Absent otherwise.
   */
  repeated: Schema.optional(Schema.Boolean)
}) {}

/**
 * The orders of `list`: `requested` (oldest request first), `newest` (newest request first) and
 * `deadline` (nearest deadline first, none last).
 *
 * @since 0.1.0
 * @category models
 */
export const ListOrder = Schema.Literal("requested", "newest", "deadline")

/**
 * @since 0.1.0
 * @category models
 */
export type ListOrder = typeof ListOrder.Type

/**
 * Options of `list`, validated with this schema. `status` (`any` for every status) defaults to
 * `waiting-approval`, or to any status with `decidedBy` (the approvals that reviewer voted on or decided). `order` is `requested` (oldest
 * request first, the default), `newest` (newest request first) or `deadline` (nearest deadline first,
 * approvals without one last); ties on the key are broken by run id, then node id. A cursor is only valid
 * with the order it was read in. Each order of the pending list, of a reviewer's and of a workflow's is an
 * index range, whatever the number of approvals.
 *
 * @since 0.1.0
 * @category models
 */
export const ListOptions = Schema.Struct({
  status: Schema.optional(Schema.Union(ApprovalStatus, Schema.Literal("any"))),
  reviewer: Schema.optional(ReviewerInput),
  decidedBy: Schema.optional(Reviewer.fields.id),
  order: Schema.optional(ListOrder),
  workflow: Schema.optional(Schema.String),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 500))),
  cursor: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ListOptions = typeof ListOptions.Encoded

/**
 * @since 0.1.0
 * @category models
 */
export class ApprovalPage extends Schema.Class<ApprovalPage>("@gatehouse/engine/Approvals/ApprovalPage")({
  approvals: Schema.Array(ApprovalRecord),
  /** Pass it back to read the next page; absent on the last one. */
  cursor: Schema.optional(Schema.String)
}) {}

/**
 * Why a decision conflicts: another decision won (`decided`, with `status` the approval's), the deadline
 * passed (`status` is `timed-out`, or `waiting-approval` while the escalation it triggers is due), the run
 * ended (`canceled`), or the reviewer already voted otherwise in the current round.
 *
 * @since 0.1.0
 * @category models
 */
export const ConflictReason = Schema.Literal("decided", "deadline-passed", "run-ended", "voted-otherwise")

/**
 * Whether a reviewer may take one action on an approval now: `decides` (it settles the approval) or
 * `votes` (it counts toward a quorum), or not, and why.
 *
 * @since 0.1.0
 * @category models
 */
export const AllowedAction = Schema.Union(
  Schema.Struct({ allowed: Schema.Literal(true), effect: Schema.Literal("decides", "votes") }),
  Schema.Struct({ allowed: Schema.Literal(false), reason: Schema.String })
)

/**
 * @since 0.1.0
 * @category models
 */
export type AllowedAction = typeof AllowedAction.Type

/**
 * Which of approve, deny and request-changes a reviewer may do on an approval: the buttons an inbox shows.
 *
 * @since 0.1.0
 * @category models
 */
export const AllowedActions = Schema.Struct({
  approve: AllowedAction,
  deny: AllowedAction,
  "request-changes": AllowedAction
})

/**
 * @since 0.1.0
 * @category models
 */
export type AllowedActions = typeof AllowedActions.Type
