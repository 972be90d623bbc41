/**
 * An approval row as the records the API returns, and a record as the input of the decision rule
 * (`internal/decision.ts`): the one place either conversion is written. Also the inbox's cursors.
 *
 * @internal
 */
import * as Schema from "effect/Schema"
import { type ApprovalRow, noDeadline } from "../storage/approvals.js"
import type * as Decision from "../decision.js"
import { ApprovalRecord, type ListOrder, type Reviewer, type Vote } from "./models.js"

/** What the deadline of an approval does now: escalate (once), or time it out. @internal */
export const atDeadlineOf = (row: ApprovalRow): "time-out" | "escalate" =>
  typeof row.policy.onTimeout === "object" && row.escalations === 0 ? "escalate" : "time-out"

/**
 * The record of a row, with its votes when given. Built from a row its schema decoded (and votes built the
 * same way): validating the record again in its constructor cost most of a page's decoding, so it is
 * skipped (`true`).
 *
 * @internal
 */
export const toRecord = (row: ApprovalRow, votes?: ReadonlyArray<Vote>): ApprovalRecord =>
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
    ...(row.decidedAt !== undefined ? { decidedAt: row.decidedAt } : {}),
    ...(row.previous !== undefined ? { previous: row.previous } : {})
  }, true)

/** What the rule needs beyond the record: whether the run has ended, and the node's payload check. @internal */
export interface SubjectContext {
  /** The run has ended (completed, failed or canceled). Unknown to a record alone: `false` then. */
  readonly runEnded: boolean
  /** Checks an approve payload against the node's schema; absent where nothing checks it. */
  readonly checkPayload?: ((payload: unknown) => string | undefined) | undefined
}

/**
 * A record as the input of the decision rule: every judgement (`decide`, `canDecide`, `allowedActions`,
 * what a run waits for) reads the approval through here.
 *
 * @internal
 */
export const subjectOf = (approval: ApprovalRecord, context: SubjectContext): Decision.Subject => ({
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
  runEnded: context.runEnded,
  checkPayload: context.checkPayload
})

/** The inbox index's principals a reviewer reads: anyone's approvals, their own and their roles'. @internal */
export const principalsOf = (reviewer: Reviewer): ReadonlyArray<string> => [
  "anyone",
  `user:${reviewer.id}`,
  ...(reviewer.roles ?? []).map((role) => `role:${role}`)
]

/** The cursor after a record, in an order. @internal */
export const encodeCursor = (row: ApprovalRecord, order: ListOrder): string =>
  Buffer.from(
    JSON.stringify([
      order === "deadline" ? row.deadline ?? noDeadline : row.requestedAt,
      row.runId,
      row.nodeId
    ]),
    "utf8"
  ).toString("base64url")

/** @internal */
export const decodeCursor = Schema.decodeUnknown(
  Schema.compose(Schema.StringFromBase64Url, Schema.parseJson(Schema.Tuple(Schema.Number, Schema.String, Schema.String)))
)
