/**
 * The reviewer side of approvals: the inbox and decisions. Every front end (the CLI, the HTTP API, the
 * web inbox, tests) decides through `Approvals.decide`: integrity, idempotency, authorization and audit
 * live here, in one transaction per decision.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { type ApprovalRow, noDeadline } from "./internal/approvals.js"
import * as JsonSchemaValidator from "./internal/jsonSchemaValidator.js"
import { formatError } from "./internal/codec.js"
import * as Decision from "./internal/decision.js"
import * as PolicyRecheck from "./internal/policyRecheck.js"
import { JsonValue, Text } from "./internal/json.js"
import { appendAudit, appendEvent } from "./internal/log.js"
import * as InternalMetrics from "./internal/metrics.js"
import * as PgWakeups from "./internal/pgWakeups.js"
import * as Tracing from "./internal/tracing.js"
import * as Storage from "./internal/storage.js"
import { mapStorage } from "./internal/storageError.js"
import * as Policy from "./Policy.js"
import * as Run from "./Run.js"
import type { StorageError } from "./StorageError.js"

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

const ReviewerInput = Schema.Union(Reviewer.fields.id, Reviewer)

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
  decidedAt: Schema.optional(Schema.Number)
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
 * Why a decision conflicts: another decision won (`decided`, with `status` the approval's), the deadline
 * passed (`status` is `timed-out`, or `waiting-approval` while the escalation it triggers is due), the run
 * ended (`canceled`), or the reviewer already voted otherwise in the current round.
 *
 * @since 0.1.0
 * @category models
 */
export const ConflictReason = Schema.Literal("decided", "deadline-passed", "run-ended", "voted-otherwise")

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

/**
 * The approval metrics, as Effect `Metric`s: read them with `Metric.value`, or export them with
 * `@effect/opentelemetry`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  requested: InternalMetrics.approvalsRequested,
  decided: InternalMetrics.approvalsDecided,
  alreadyDecided: InternalMetrics.approvalsAlreadyDecided,
  stale: InternalMetrics.approvalsStale,
  timedOut: InternalMetrics.approvalsTimedOut,
  escalated: InternalMetrics.approvalsEscalated,
  pending: InternalMetrics.approvalsPending,
  decisionWait: InternalMetrics.decisionWait
} as const

/**
 * The inbox and decisions. Every call fails with `StorageError` (never a defect) when the database fails it.
 *
 * @since 0.1.0
 * @category tags
 */
export class Approvals extends Context.Tag("@gatehouse/engine/Approvals")<Approvals, {
  /** The approval queue, oldest first (or in `order`), each with its request context. */
  readonly list: (options?: ListOptions) => Effect.Effect<ApprovalPage, InvalidDecision | StorageError>
  /** One approval, with its votes. `nodeId` may be a review's id, meaning its latest revision. */
  readonly get: (address: {
    readonly runId: string
    readonly nodeId: string
  }) => Effect.Effect<ApprovalRecord, ApprovalNotFound | StorageError>
  /**
   * Decides an approval, addressed by `(runId, nodeId)`, in one transaction: validates, checks the
   * reviewer, records the decision (or the vote, under a quorum), appends the audit entry and the event,
   * and makes the run runnable.
   */
  readonly decide: (input: DecideInput) => Effect.Effect<DecideResult, DecideError | StorageError>
  /**
   * Which actions this reviewer may take on the approval now (by the engine's `Clock`), judged by the same
   * rules as `decide`: what an inbox shows as buttons.
   */
  readonly canDecide: (
    address: { readonly runId: string; readonly nodeId: string },
    reviewer: Reviewer | string
  ) => Effect.Effect<AllowedActions, ApprovalNotFound | StorageError>
}>() {}

const atDeadlineOf = (row: ApprovalRow): "time-out" | "escalate" =>
  typeof row.policy.onTimeout === "object" && row.escalations === 0 ? "escalate" : "time-out"

// Built from a row its schema decoded (and votes built the same way): validating the record again in its
// constructor cost most of a page's decoding, so it is skipped (`true`).
const toRecord = (row: ApprovalRow, votes?: ReadonlyArray<Vote>): ApprovalRecord =>
  new ApprovalRecord({
    runId: row.runId,
    nodeId: row.nodeId,
    baseId: row.baseId,
    workflow: row.workflow,
    status: row.status,
    title: row.title,
    ...(row.summary !== undefined ? { summary: row.summary } : {}),
    ...(row.metadata !== undefined ? { metadata: row.metadata } : {}),
    ...(row.reviewed !== undefined ? { reviewed: row.reviewed } : {}),
    requestHash: row.requestHash,
    revision: row.revision,
    acceptsRequestChanges: row.policy.allowRequestChanges,
    ...(row.policy.maxRevisions !== undefined ? { maxRevisions: row.policy.maxRevisions } : {}),
    atDeadline: atDeadlineOf(row),
    onTimeout: row.policy.onTimeout === "fail" ? "fail" : "deny",
    ...(atDeadlineOf(row) === "escalate" && typeof row.policy.onTimeout === "object"
      ? {
        escalateTo: {
          users: row.policy.onTimeout.escalateTo.users,
          roles: row.policy.onTimeout.escalateTo.roles,
          quorum: row.policy.onTimeout.escalateTo.quorum
        }
      }
      : {}),
    ...(row.policy.decisionJsonSchema !== undefined ? { decisionSchema: row.policy.decisionJsonSchema } : {}),
    ...(row.deadline !== undefined ? { deadline: row.deadline } : {}),
    reviewers: row.reviewers,
    onDeny: row.policy.onDeny,
    ...(row.startedBy !== undefined ? { startedBy: row.startedBy } : {}),
    escalations: row.escalations,
    ...(row.decision !== undefined ? { decision: row.decision } : {}),
    ...(votes !== undefined ? { votes } : {}),
    requestedAt: row.requestedAt,
    ...(row.decidedAt !== undefined ? { decidedAt: row.decidedAt } : {})
  }, true)

const encodeCursor = (row: ApprovalRecord, order: ListOrder): string =>
  Buffer.from(
    JSON.stringify([
      order === "deadline" ? row.deadline ?? noDeadline : row.requestedAt,
      row.runId,
      row.nodeId
    ]),
    "utf8"
  ).toString("base64url")

const decodeCursor = Schema.decodeUnknown(
  Schema.compose(Schema.StringFromBase64Url, Schema.parseJson(Schema.Tuple(Schema.Number, Schema.String, Schema.String)))
)

const reviewerOf = (input: Reviewer | string): Reviewer => typeof input === "string" ? { id: input } : input

/**
 * Which of approve, deny and request-changes `reviewer` may do on `approval` at `now` (epoch
 * milliseconds), and why not: the rules of `decide` (authorization, self-approval, status, the run's end,
 * the deadline, votes of the current round), without a database. A record from `get` (with its votes)
 * gives the exact answer; one from `list` has no votes, so a reviewer's repeated vote shows as allowed.
 *
 * @example
 * ```ts
 * import { Approvals } from "@gatehouse/engine"
 * import { Clock, Effect } from "effect"
 *
 * const buttons = Effect.gen(function*() {
 *   const approvals = yield* Approvals.Approvals
 *   const approval = yield* approvals.get({ runId: "refund-1", nodeId: "refund-decision" })
 *   return Approvals.allowedActions(approval, { id: "ana", roles: ["finance"] }, yield* Clock.currentTimeMillis)
 * })
 * ```
 *
 * @since 0.1.0
 * @category decisions
 */
export const allowedActions = (approval: ApprovalRecord, reviewer: Reviewer | string, now: number): AllowedActions =>
  Decision.allowedActions(
    {
      status: approval.status,
      reviewers: approval.reviewers,
      startedBy: approval.startedBy,
      requestHash: approval.requestHash,
      acceptsRequestChanges: approval.acceptsRequestChanges,
      maxRevisions: approval.maxRevisions,
      deadline: approval.deadline,
      atDeadline: approval.atDeadline,
      round: approval.escalations,
      decision: approval.decision as Decision.RecordedDecision | undefined,
      votes: approval.votes ?? [],
      runEnded: false,
      checkPayload: undefined
    },
    reviewerOf(reviewer),
    now
  )

/**
 * Whether a reviewer is among an approval's assignees (an approval that names none is anyone's): the
 * engine's one rule for who may decide, which read access at every surface follows too.
 *
 * @since 0.1.0
 * @category decisions
 */
export const isReviewer = (approval: ApprovalRecord, reviewer: Reviewer | string): boolean =>
  Decision.isAssigned(approval.reviewers, reviewerOf(reviewer))

const principalsOf = (reviewer: Reviewer): ReadonlyArray<string> => [
  "anyone",
  `user:${reviewer.id}`,
  ...(reviewer.roles ?? []).map((role) => `role:${role}`)
]

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Approvals["Type"], never, Storage.Storage> = Effect.gen(
  function*() {
    const { approvals, runs: store, signals, sql } = yield* Storage.Storage
    const { errorsText, validatorFor } = JsonSchemaValidator.make()

    const votesOf = (runId: string, nodeId: string) =>
      approvals.votes(runId, nodeId).pipe(
        Effect.map((rows) =>
          rows.map((row) => new Vote(row, true))
        )
      )

    const checkPayloadOf = (row: ApprovalRow): ((payload: unknown) => string | undefined) | undefined => {
      const schema = row.policy.decisionJsonSchema
      if (schema === undefined) return undefined
      const validate = validatorFor(schema)
      return (payload) => validate(payload) ? undefined : errorsText(validate.errors)
    }

    const subjectOf = (row: ApprovalRow, votes: ReadonlyArray<Vote>, runEnded: boolean): Decision.Subject => ({
      status: row.status,
      reviewers: row.reviewers,
      startedBy: row.startedBy,
      requestHash: row.requestHash,
      acceptsRequestChanges: row.policy.allowRequestChanges,
      maxRevisions: row.policy.maxRevisions,
      deadline: row.deadline,
      atDeadline: atDeadlineOf(row),
      round: row.escalations,
      decision: row.decision as Decision.RecordedDecision | undefined,
      votes,
      runEnded,
      checkPayload: checkPayloadOf(row)
    })

    const get = (address: { readonly runId: string; readonly nodeId: string }) =>
      Effect.gen(function*() {
        const row = yield* approvals.resolve(address.runId, address.nodeId)
        if (Option.isNone(row)) return yield* new ApprovalNotFound(address)
        return toRecord(row.value, yield* votesOf(row.value.runId, row.value.nodeId))
      })

    const list = (options: ListOptions = {}) =>
      Effect.gen(function*() {
        const decoded = yield* Schema.decodeUnknown(ListOptions)(options).pipe(
          Effect.mapError((error) => new InvalidDecision({ reason: formatError(error) }))
        )
        const after = decoded.cursor === undefined ? undefined : yield* decodeCursor(decoded.cursor).pipe(
          Effect.mapError(() => new InvalidDecision({ reason: "cursor is not one this API returned" }))
        )
        const limit = decoded.limit ?? 50
        const status = decoded.status === "any"
          ? undefined
          : decoded.status ?? (decoded.decidedBy !== undefined ? undefined : "waiting-approval")
        const order = decoded.order ?? "requested"
        const reviewer = decoded.reviewer === undefined
          ? undefined
          : typeof decoded.reviewer === "string"
          ? { id: decoded.reviewer }
          : decoded.reviewer
        const rows = yield* approvals.list({
          status,
          workflow: decoded.workflow,
          principals: reviewer === undefined ? undefined : principalsOf(reviewer),
          decidedBy: decoded.decidedBy,
          order,
          after,
          limit
        })
        const records = rows.map((row) => toRecord(row))
        return new ApprovalPage({
          approvals: records,
          ...(records.length === limit ? { cursor: encodeCursor(records[records.length - 1], order) } : {})
        }, true)
      })

    const decide = (input: DecideInput) =>
      Effect.gen(function*() {
        const decoded = yield* Schema.decodeUnknown(DecideInput)(input, { onExcessProperty: "error" }).pipe(
          Effect.mapError((error) => new InvalidDecision({ reason: formatError(error) }))
        )
        const by: Reviewer = typeof decoded.by === "string" ? { id: decoded.by } : decoded.by
        yield* Effect.annotateCurrentSpan({
          runId: decoded.runId,
          nodeId: decoded.nodeId,
          verdict: decoded.verdict,
          reviewer: by.id
        })
        let payloadJson: string | undefined = undefined
        if (decoded.payload !== undefined) {
          try {
            payloadJson = JSON.stringify(decoded.payload)
          } catch {
            return yield* new InvalidDecision({ reason: "payload is not JSON" })
          }
          if (Buffer.byteLength(payloadJson, "utf8") > limits.payloadBytes) {
            return yield* new InvalidDecision({ reason: `payload is over ${limits.payloadBytes} bytes` })
          }
        }
        const now = yield* Clock.currentTimeMillis
        // The decision's span, stored with the wake: the execution it resumes links to it.
        const link = yield* Tracing.currentLink

        const outcome = yield* Effect.gen(function*() {
          // The lock order of `internal/store.ts`: the run's lock first, then the approval's row.
          yield* store.lockRun(decoded.runId)
          const found = yield* approvals.resolve(decoded.runId, decoded.nodeId, { lock: true })
          if (Option.isNone(found)) return yield* new ApprovalNotFound({ runId: decoded.runId, nodeId: decoded.nodeId })
          const approval = found.value
          const address = { runId: approval.runId, nodeId: approval.nodeId }
          const run = yield* store.getRun(approval.runId)
          const runEnded = Option.isNone(run) || Run.isTerminal(run.value.status)
          const votes = yield* votesOf(approval.runId, approval.nodeId)
          const judgement = Decision.judge(subjectOf(approval, votes, runEnded), {
            reviewer: by,
            verdict: decoded.verdict,
            note: decoded.note,
            payload: decoded.payload,
            requestHash: decoded.requestHash
          }, now)

          if (judgement._tag === "Refused") {
            const refusal = judgement.refusal
            switch (refusal._tag) {
              case "NotAuthorized":
                return yield* new NotAuthorized({ ...address, reviewer: by.id, reason: refusal.reason })
              case "InvalidDecision":
                return yield* new InvalidDecision({ reason: `approval "${approval.nodeId}": ${refusal.reason}` })
              case "StaleApproval":
                return yield* new StaleApproval({ ...address, expected: refusal.expected, actual: refusal.actual })
              case "DecisionConflict":
                return yield* new DecisionConflict({
                  ...address,
                  status: refusal.status,
                  attempted: decoded.verdict,
                  reason: refusal.reason
                })
            }
          }
          if (judgement._tag === "AlreadyDecided") return { status: "already-decided" as const, approval }
          if (judgement._tag === "VoteRepeated") return { status: "vote-recorded" as const, approval, repeated: true }

          // An approval a policy rule required: under a policy activated since, the decision goes through
          // only if that policy still requires this human decision with these reviewers.
          const rebound = yield* PolicyRecheck.recheck(sql, approval, now)
          if (rebound._tag === "Changed") return { status: "policy-changed" as const, approval, change: rebound.change }
          const snapshots = rebound._tag === "Same" ? { snapshots: [rebound.from, rebound.to] } : {}

          const round = approval.escalations
          if (judgement.needed > 1) {
            yield* approvals.insertVote({
              ...address,
              round,
              voter: by.id,
              verdict: decoded.verdict,
              note: decoded.note,
              payloadJson,
              requestHash: approval.requestHash,
              now
            })
          }
          const tally = { verdict: decoded.verdict, votes: judgement.votes, needed: judgement.needed, round }
          // Every vote is audited, the one that reaches the quorum too (before its decision).
          const auditVote = appendAudit(sql, {
            ...address,
            action: "approval.voted",
            actor: by.id,
            requestHash: decoded.requestHash ?? approval.requestHash,
            note: decoded.note,
            data: { ...tally, ...snapshots },
            now
          })
          if (judgement._tag === "Vote") {
            yield* approvals.recordDecider(approval.runId, approval.nodeId, by.id)
            yield* appendEvent(sql, { ...address, type: "approval.vote-recorded", actor: by.id, data: tally, now })
            yield* auditVote
            return { status: "vote-recorded" as const, approval }
          }

          const decision = {
            approved: decoded.verdict === "approve",
            outcome: judgement.outcome,
            ...(decoded.note !== undefined ? { note: decoded.note } : {}),
            decidedBy: by.id,
            decidedAt: now,
            ...(decoded.payload !== undefined ? { payload: decoded.payload } : {})
          }
          const settled = yield* approvals.settle({ ...address, status: judgement.outcome, decision, now })
          if (!settled) return yield* Effect.dieMessage(`Approval "${approval.nodeId}" changed under its run's lock`)
          yield* approvals.recordDecider(approval.runId, approval.nodeId, by.id)
          // The run's row last: a runner's claim skips a locked run only between this wake and the commit.
          yield* store.wake(approval.runId, now, link)
          yield* appendEvent(sql, {
            ...address,
            type: "approval.decided",
            actor: by.id,
            data: { verdict: decoded.verdict, revision: approval.revision },
            now
          })
          if (judgement.needed > 1) yield* auditVote
          yield* appendAudit(sql, {
            ...address,
            action: "approval.decided",
            actor: by.id,
            requestHash: decoded.requestHash ?? approval.requestHash,
            note: decoded.note,
            data: { verdict: decoded.verdict, payload: decoded.payload ?? null, ...snapshots },
            now
          })
          return {
            status: "decided" as const,
            approval: { ...approval, status: judgement.outcome, decision, decidedAt: now }
          }
        }).pipe(
          PgWakeups.withTransaction(sql),
          Effect.tapError((error) => error._tag === "StaleApproval" ? Metric.increment(InternalMetrics.approvalsStale) : Effect.void)
        )

        if (outcome.status === "policy-changed") {
          if (outcome.change.outcome === "denied" || outcome.change.outcome === "approved") yield* signals.work.notify
          return yield* new Policy.PolicyChanged({ runId: outcome.approval.runId, nodeId: outcome.approval.nodeId, ...outcome.change })
        }
        if (outcome.status === "decided") {
          yield* signals.work.notify
          yield* Metric.increment(Metric.tagged(InternalMetrics.approvalsDecided, "verdict", decoded.verdict))
          yield* Metric.update(InternalMetrics.decisionWait, Math.max(0, now - outcome.approval.requestedAt) / 1000)
        } else if (outcome.status === "already-decided") {
          yield* Metric.increment(InternalMetrics.approvalsAlreadyDecided)
        }
        return new DecideResult({
          status: outcome.status,
          approval: toRecord(outcome.approval, yield* votesOf(outcome.approval.runId, outcome.approval.nodeId)),
          ...("repeated" in outcome ? { repeated: true } : {})
        })
      })

    const canDecide = (address: { readonly runId: string; readonly nodeId: string }, reviewer: Reviewer | string) =>
      Effect.gen(function*() {
        const found = yield* approvals.resolve(address.runId, address.nodeId)
        if (Option.isNone(found)) return yield* new ApprovalNotFound(address)
        const row = found.value
        const run = yield* store.getRun(row.runId)
        const runEnded = Option.isNone(run) || Run.isTerminal(run.value.status)
        const votes = yield* votesOf(row.runId, row.nodeId)
        const now = yield* Clock.currentTimeMillis
        return Decision.allowedActions(subjectOf(row, votes, runEnded), reviewerOf(reviewer), now)
      })

    return Approvals.of({
      list: (options) => mapStorage("Approvals.list")(list(options)),
      get: (address) => mapStorage("Approvals.get")(get(address)),
      decide: (input) =>
        mapStorage("Approvals.decide")(decide(input)).pipe(
          Tracing.span("gatehouse.decide", {})
        ),
      canDecide: (address, reviewer) => mapStorage("Approvals.canDecide")(canDecide(address, reviewer))
    })
  }
)

/**
 * The inbox and decisions, on the SQL client in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Approvals, never, SqlClient.SqlClient> = Layer.effect(Approvals, make).pipe(
  Layer.provide(Storage.layer)
)
