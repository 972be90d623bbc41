/**
 * The reviewer side of approvals: the inbox and decisions. Every front end (the CLI, the HTTP API, the
 * web inbox, tests) decides through `Approvals.decide`: integrity, idempotency, authorization and audit
 * live here, in one transaction per decision.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Ajv, type ValidateFunction } from "ajv"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { type ApprovalRow, decidedStatuses, toApprovalRow } from "./internal/approvals.js"
import { formatError } from "./internal/codec.js"
import { appendAudit, appendEvent } from "./internal/log.js"
import * as InternalMetrics from "./internal/metrics.js"
import * as Storage from "./internal/storage.js"

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
  id: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200)),
  roles: Schema.optional(Schema.Array(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(100))).pipe(Schema.maxItems(50)))
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
 * A decision as submitted. Validated with this schema before anything is read or written.
 *
 * @since 0.1.0
 * @category models
 */
export const DecideInput = Schema.Struct({
  runId: Schema.NonEmptyString.pipe(Schema.maxLength(300)),
  nodeId: Schema.NonEmptyString.pipe(Schema.maxLength(300)),
  verdict: Verdict,
  by: ReviewerInput,
  note: Schema.optional(Schema.String.pipe(Schema.maxLength(limits.noteLength))),
  payload: Schema.optional(Schema.Unknown),
  requestHash: Schema.optional(Schema.String.pipe(Schema.maxLength(128)))
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
  requestHash: Schema.String,
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
  escalations: Schema.Number,
  decision: Schema.optional(Schema.Unknown),
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
  approval: ApprovalRecord
}) {}

/**
 * Options of `list`, validated with this schema. `status` defaults to `waiting-approval`.
 *
 * @since 0.1.0
 * @category models
 */
export const ListOptions = Schema.Struct({
  status: Schema.optional(ApprovalStatus),
  reviewer: Schema.optional(ReviewerInput),
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
 * Another decision already won (or the approval timed out or was canceled).
 *
 * @since 0.1.0
 * @category errors
 */
export class DecisionConflict extends Schema.TaggedError<DecisionConflict>("@gatehouse/engine/DecisionConflict")(
  "DecisionConflict",
  { runId: Schema.String, nodeId: Schema.String, status: ApprovalStatus, attempted: Verdict }
) {
  override get message(): string {
    return `Approval "${this.nodeId}" of run "${this.runId}" is already ${this.status}; "${this.attempted}" was not recorded`
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
export type DecideError = ApprovalNotFound | DecisionConflict | StaleApproval | NotAuthorized | InvalidDecision

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
 * @since 0.1.0
 * @category tags
 */
export class Approvals extends Context.Tag("@gatehouse/engine/Approvals")<Approvals, {
  /** The approval queue, oldest first, each with its request context. */
  readonly list: (options?: ListOptions) => Effect.Effect<ApprovalPage, InvalidDecision | SqlError>
  /** One approval, with its votes. `nodeId` may be a review's id, meaning its latest revision. */
  readonly get: (address: {
    readonly runId: string
    readonly nodeId: string
  }) => Effect.Effect<ApprovalRecord, ApprovalNotFound | SqlError>
  /**
   * Decides an approval, addressed by `(runId, nodeId)`, in one transaction: validates, checks the
   * reviewer, records the decision (or the vote, under a quorum), appends the audit entry and the event,
   * and makes the run runnable.
   */
  readonly decide: (input: DecideInput) => Effect.Effect<DecideResult, DecideError | SqlError>
}>() {}

const outcomeOf = (verdict: Verdict): ApprovalStatus =>
  verdict === "approve" ? "approved" : verdict === "deny" ? "denied" : "changes-requested"

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
  })

const encodeCursor = (row: ApprovalRecord): string =>
  Buffer.from(JSON.stringify([row.requestedAt, row.runId, row.nodeId]), "utf8").toString("base64url")

const decodeCursor = Schema.decodeUnknown(
  Schema.compose(Schema.StringFromBase64Url, Schema.parseJson(Schema.Tuple(Schema.Number, Schema.String, Schema.String)))
)

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
    const ajv = new Ajv({ allErrors: true, strict: false })
    const validators = new Map<string, ValidateFunction>()
    const validatorFor = (schema: unknown): ValidateFunction => {
      const key = JSON.stringify(schema)
      let validate = validators.get(key)
      if (validate === undefined) {
        validate = ajv.compile(schema as object)
        validators.set(key, validate)
      }
      return validate
    }

    const votesOf = (runId: string, nodeId: string) =>
      approvals.votes(runId, nodeId).pipe(
        Effect.map((rows) =>
          rows.map((row) =>
            new Vote({
              voter: row.voter,
              verdict: row.verdict as Verdict,
              ...(row.note !== null ? { note: row.note } : {}),
              requestHash: row.request_hash,
              createdAt: Number(row.created_at)
            })
          )
        )
      )

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
        const status = decoded.status ?? "waiting-approval"
        const reviewer = decoded.reviewer === undefined
          ? undefined
          : typeof decoded.reviewer === "string"
          ? { id: decoded.reviewer }
          : decoded.reviewer
        const filters = [
          sql`a.status = ${status}`,
          decoded.workflow !== undefined ? sql`a.workflow = ${decoded.workflow}` : undefined,
          reviewer !== undefined
            ? sql`EXISTS (SELECT 1 FROM gatehouse_approval_assignees s WHERE s.run_id = a.run_id
                AND s.node_id = a.node_id AND s.principal IN ${sql.in(principalsOf(reviewer))})`
            : undefined,
          after !== undefined
            ? sql`(a.requested_at > ${after[0]} OR (a.requested_at = ${after[0]} AND (a.run_id > ${after[1]}
                OR (a.run_id = ${after[1]} AND a.node_id > ${after[2]}))))`
            : undefined
        ].filter((filter) => filter !== undefined)
        const rows = yield* sql`SELECT a.* FROM gatehouse_approvals a WHERE ${sql.and(filters)}
          ORDER BY a.requested_at, a.run_id, a.node_id LIMIT ${limit}`
        const records = rows.map((row) => toRecord(toApprovalRow(row)))
        return new ApprovalPage({
          approvals: records,
          ...(records.length === limit ? { cursor: encodeCursor(records[records.length - 1]) } : {})
        })
      })

    const decide = (input: DecideInput) =>
      Effect.gen(function*() {
        const decoded = yield* Schema.decodeUnknown(DecideInput)(input, { onExcessProperty: "error" }).pipe(
          Effect.mapError((error) => new InvalidDecision({ reason: formatError(error) }))
        )
        const by: Reviewer = typeof decoded.by === "string" ? { id: decoded.by } : decoded.by
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

        const outcome = yield* Effect.gen(function*() {
          const found = yield* approvals.resolve(decoded.runId, decoded.nodeId, { lock: true })
          if (Option.isNone(found)) return yield* new ApprovalNotFound({ runId: decoded.runId, nodeId: decoded.nodeId })
          const approval = found.value
          const address = { runId: approval.runId, nodeId: approval.nodeId }
          const reviewers = approval.reviewers
          const assigned = (reviewers.users.length === 0 && reviewers.roles.length === 0) ||
            reviewers.users.includes(by.id) || (by.roles ?? []).some((role) => reviewers.roles.includes(role))
          if (!assigned) {
            return yield* new NotAuthorized({ ...address, reviewer: by.id, reason: "not among the approval's reviewers" })
          }
          if (decoded.verdict === "approve" && !reviewers.allowSelfApproval && approval.startedBy === by.id) {
            return yield* new NotAuthorized({
              ...address,
              reviewer: by.id,
              reason: "whoever started the run cannot approve it"
            })
          }
          if (approval.status !== "waiting-approval") {
            if (decidedStatuses.includes(approval.status) && approval.status === outcomeOf(decoded.verdict)) {
              return { status: "already-decided" as const, approval }
            }
            return yield* new DecisionConflict({ ...address, status: approval.status, attempted: decoded.verdict })
          }
          if (decoded.requestHash !== undefined && decoded.requestHash !== approval.requestHash) {
            return yield* new StaleApproval({ ...address, expected: approval.requestHash, actual: decoded.requestHash })
          }
          if (decoded.verdict === "request-changes" && !approval.policy.allowRequestChanges) {
            return yield* new InvalidDecision({
              reason: approval.policy.maxRevisions !== undefined
                ? `approval "${approval.nodeId}" is the last of ${approval.policy.maxRevisions} revisions: approve or deny`
                : `approval "${approval.nodeId}" does not accept request-changes`
            })
          }
          if (decoded.verdict === "request-changes" && (decoded.note === undefined || decoded.note.trim() === "")) {
            return yield* new InvalidDecision({ reason: "request-changes needs a note saying what to change" })
          }
          const schema = approval.policy.decisionJsonSchema
          if (decoded.verdict === "approve" && schema !== undefined) {
            const validate = validatorFor(schema)
            if (!validate(decoded.payload)) {
              return yield* new InvalidDecision({
                reason: `payload does not match the approval's schema: ${ajv.errorsText(validate.errors)}`
              })
            }
          } else if (decoded.payload !== undefined) {
            return yield* new InvalidDecision({
              reason: decoded.verdict === "approve"
                ? `approval "${approval.nodeId}" takes no payload`
                : "only an approval carries a payload"
            })
          }

          const needed = decoded.verdict === "approve"
            ? reviewers.quorum
            : decoded.verdict === "deny"
            ? reviewers.denyQuorum
            : 1
          if (needed > 1) {
            const inserted = yield* sql`INSERT INTO gatehouse_votes (run_id, node_id, voter, verdict, note, payload,
                request_hash, created_at)
              VALUES (${approval.runId}, ${approval.nodeId}, ${by.id}, ${decoded.verdict}, ${decoded.note ?? null},
                ${payloadJson ?? null}, ${approval.requestHash}, ${now})
              ON CONFLICT (run_id, node_id, voter) DO NOTHING RETURNING voter`
            if (inserted.length === 0) {
              const previous = yield* sql<{ verdict: string }>`SELECT verdict FROM gatehouse_votes
                WHERE run_id = ${approval.runId} AND node_id = ${approval.nodeId} AND voter = ${by.id}`
              if (previous[0]?.verdict !== decoded.verdict) {
                return yield* new InvalidDecision({ reason: `${by.id} already voted "${previous[0]?.verdict}"` })
              }
              return { status: "vote-recorded" as const, approval }
            }
            const count = yield* sql<{ n: unknown }>`SELECT COUNT(*) AS n FROM gatehouse_votes
              WHERE run_id = ${approval.runId} AND node_id = ${approval.nodeId} AND verdict = ${decoded.verdict}`
            const votes = Number(count[0]?.n ?? 0)
            yield* appendAudit(sql, {
              ...address,
              action: "approval.voted",
              actor: by.id,
              requestHash: decoded.requestHash ?? approval.requestHash,
              note: decoded.note,
              data: { verdict: decoded.verdict, votes, needed },
              now
            })
            if (votes < needed) {
              yield* appendEvent(sql, {
                ...address,
                type: "approval.vote-recorded",
                actor: by.id,
                data: { verdict: decoded.verdict, votes, needed },
                now
              })
              return { status: "vote-recorded" as const, approval }
            }
          }

          const decision = {
            approved: decoded.verdict === "approve",
            outcome: outcomeOf(decoded.verdict),
            ...(decoded.note !== undefined ? { note: decoded.note } : {}),
            decidedBy: by.id,
            decidedAt: now,
            ...(decoded.payload !== undefined ? { payload: decoded.payload } : {})
          }
          const settled = yield* approvals.settle({ ...address, status: outcomeOf(decoded.verdict), decision, now })
          if (!settled) return yield* Effect.dieMessage(`Approval "${approval.nodeId}" changed under its run's lock`)
          yield* store.wake(approval.runId, now)
          yield* appendEvent(sql, {
            ...address,
            type: "approval.decided",
            actor: by.id,
            data: { verdict: decoded.verdict, revision: approval.revision },
            now
          })
          yield* appendAudit(sql, {
            ...address,
            action: "approval.decided",
            actor: by.id,
            requestHash: decoded.requestHash ?? approval.requestHash,
            note: decoded.note,
            data: { verdict: decoded.verdict, payload: decoded.payload ?? null },
            now
          })
          return {
            status: "decided" as const,
            approval: { ...approval, status: outcomeOf(decoded.verdict), decision, decidedAt: now }
          }
        }).pipe(
          sql.withTransaction,
          Effect.tapError((error) => error._tag === "StaleApproval" ? Metric.increment(InternalMetrics.approvalsStale) : Effect.void)
        )

        if (outcome.status === "decided") {
          yield* signals.work.notify
          yield* Metric.increment(Metric.tagged(InternalMetrics.approvalsDecided, "verdict", decoded.verdict))
          yield* Metric.update(InternalMetrics.decisionWait, Math.max(0, now - outcome.approval.requestedAt) / 1000)
          yield* approvals.pendingCount.pipe(
            Effect.flatMap((n) => Metric.set(InternalMetrics.approvalsPending, n)),
            Effect.ignore
          )
        } else if (outcome.status === "already-decided") {
          yield* Metric.increment(InternalMetrics.approvalsAlreadyDecided)
        }
        return new DecideResult({
          status: outcome.status,
          approval: toRecord(outcome.approval, yield* votesOf(outcome.approval.runId, outcome.approval.nodeId))
        })
      })

    return Approvals.of({ list, get, decide })
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
