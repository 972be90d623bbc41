/**
 * The engine's tables as Schemas: one row type per table, decoded from the columns as the driver returns
 * them. PostgreSQL returns BIGINT columns as strings and SQLite as numbers; `Int` accepts both. A NULL
 * column decodes to an absent field and a JSON column (TEXT) to its value. A row that does not decode is
 * a storage failure (`SqlError`), never a defect.
 *
 * @internal
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Policy from "../Policy.js"
import * as Run from "../Run.js"
import * as ApprovalModels from "./approvals/models.js"

/** An integer column: a number (SQLite, INTEGER on PostgreSQL) or a numeric string (BIGINT on PostgreSQL). */
export const Int: Schema.Schema<number, number | string> = Schema.Union(
  Schema.Int,
  Schema.compose(Schema.NumberFromString, Schema.Int)
)

/** A JSON document stored as TEXT. */
export const JsonText: Schema.Schema<unknown, string> = Schema.parseJson()

/** A column that may be NULL, read under its SQL name: absent (undefined) in the decoded row. */
const column = <A, I>(name: string, schema: Schema.Schema<A, I>) =>
  Schema.optionalWith(schema, { nullable: true }).pipe(Schema.fromKey(name))

/** A NOT NULL column read under its SQL name. */
const required = <A, I>(name: string, schema: Schema.Schema<A, I>) =>
  Schema.propertySignature(schema).pipe(Schema.fromKey(name))

/** `gatehouse_runs` */
export const RunRow = Schema.Struct({
  id: Schema.String,
  workflow: Schema.String,
  idempotencyKey: column("idempotency_key", Schema.String),
  payload: JsonText,
  status: Run.RunStatus,
  result: column("result", JsonText),
  error: column("error", Schema.String),
  startedBy: column("started_by", Schema.String),
  wakeSeq: required("wake_seq", Int),
  wakeAt: column("wake_at", Int),
  leaseOwner: column("lease_owner", Schema.String),
  leaseExpiresAt: column("lease_expires_at", Int),
  takenOverFrom: column("taken_over_from", Schema.String),
  claimLink: column("claim_link", Schema.String),
  startGate: column("start_gate", Schema.parseJson(Schema.suspend(() => StartGate))),
  claims: Int,
  createdAt: required("created_at", Int),
  updatedAt: required("updated_at", Int),
  completedAt: column("completed_at", Int),
  forkedFrom: column("forked_from", Schema.String),
  forkNode: column("fork_node", Schema.String),
  forkSeq: column("fork_seq", Int),
  forks: column("forks", Schema.parseJson(Schema.Array(Schema.String))),
  repairs: Int
})

/** @internal */
export type RunRow = typeof RunRow.Type

/** `gatehouse_nodes`: a run's journal, one row per node. */
export const NodeRow = Schema.Struct({
  nodeId: required("node_id", Schema.String),
  kind: Run.NodeKind,
  status: Run.NodeStatus,
  exit: column("exit", JsonText),
  attempt: Int,
  seq: Int,
  fireAt: column("fire_at", Int),
  startedAt: required("started_at", Int),
  completedAt: column("completed_at", Int)
})

/** @internal */
export type NodeRow = typeof NodeRow.Type

/** `gatehouse_events`: the outbox. */
export const EventRow = Schema.Struct({
  seq: Int,
  tx: Int,
  runId: column("run_id", Schema.String),
  nodeId: column("node_id", Schema.String),
  type: Schema.String,
  actor: column("actor", Schema.String),
  data: column("data", JsonText),
  createdAt: required("created_at", Int)
})

/** @internal */
export type EventRow = typeof EventRow.Type

/**
 * `gatehouse_audit`. `data` stays the stored text: an entry's hash covers exactly the bytes stored, so
 * verification must not serialize a parsed value again.
 */
export const AuditRow = Schema.Struct({
  seq: Int,
  runId: column("run_id", Schema.String),
  nodeId: column("node_id", Schema.String),
  action: Schema.String,
  actor: Schema.String,
  requestHash: column("request_hash", Schema.String),
  note: column("note", Schema.String),
  data: column("data", Schema.String),
  createdAt: required("created_at", Int),
  prevHash: required("prev_hash", Schema.String),
  hash: Schema.String
})

/** @internal */
export type AuditRow = typeof AuditRow.Type

/** Who may decide, as stored (after an escalation, the reviewers it was escalated to). */
export const StoredReviewers = Schema.Struct({
  users: Schema.Array(Schema.String),
  roles: Schema.Array(Schema.String),
  quorum: Schema.Number,
  denyQuorum: Schema.Number,
  allowSelfApproval: Schema.Boolean
})

/**
 * What binds an approval a policy rule created to the evaluation that created it: the snapshot, the rule,
 * the action (and its hash) and the decision, re-checked at decide time against the active policy.
 */
export const PolicyBinding = Schema.Struct({
  snapshotId: Schema.String,
  ruleId: Schema.optional(Schema.String),
  actionHash: Schema.String,
  action: Policy.Action,
  decision: Policy.Decision
})

/** @internal */
export type PolicyBinding = typeof PolicyBinding.Type

/** A run whose start the policy put behind an approval (`gatehouse_runs.start_gate`). */
export const StartGate = Schema.Struct({
  approval: Policy.HumanApproval,
  binding: PolicyBinding
})

/** @internal */
export type StartGate = typeof StartGate.Type

/** What the engine needs, outside the workflow's code, to judge a decision. */
export const ApprovalPolicy = Schema.Struct({
  onDeny: Schema.Literal("fail", "continue"),
  onTimeout: Schema.Union(
    Schema.Literal("deny", "fail"),
    Schema.Struct({ escalateTo: StoredReviewers, timeoutMillis: Schema.Number })
  ),
  timeoutMillis: Schema.optional(Schema.Number),
  allowRequestChanges: Schema.Boolean,
  maxRevisions: Schema.optional(Schema.Number),
  /** JSON Schema of the approve payload, when the node declares one. */
  decisionJsonSchema: Schema.optional(Schema.Unknown),
  /** Set when a policy rule created the approval. */
  binding: Schema.optional(PolicyBinding)
})

/** `gatehouse_approvals` */
export const ApprovalRow = Schema.Struct({
  runId: required("run_id", Schema.String),
  nodeId: required("node_id", Schema.String),
  baseId: required("base_id", Schema.String),
  workflow: Schema.String,
  status: Schema.Literal("waiting-approval", "approved", "denied", "changes-requested", "timed-out", "canceled"),
  title: Schema.String,
  summary: column("summary", Schema.String),
  metadata: column("metadata", JsonText),
  reviewed: column("reviewed", JsonText),
  requestHash: required("request_hash", Schema.String),
  revision: Int,
  policy: Schema.parseJson(ApprovalPolicy),
  reviewers: Schema.parseJson(StoredReviewers),
  startedBy: column("started_by", Schema.String),
  deadline: column("deadline", Int),
  escalations: Int,
  decision: column("decision", JsonText),
  requestedAt: required("requested_at", Int),
  decidedAt: column("decided_at", Int),
  updatedAt: required("updated_at", Int),
  /** The decision it had before a repaired run asked again (`approvalReuse.ts`), shown to its reviewers. */
  previous: column("previous", Schema.parseJson(Schema.suspend(() => PreviousDecision)))
})

/** @internal */
export const PreviousDecision = ApprovalModels.PreviousDecision

/** @internal */
export type ApprovalRow = typeof ApprovalRow.Type

/** `gatehouse_votes` */
export const VoteRow = Schema.Struct({
  voter: Schema.String,
  verdict: Schema.Literal("approve", "deny", "request-changes"),
  note: column("note", Schema.String),
  payload: column("payload", JsonText),
  requestHash: required("request_hash", Schema.String),
  round: Int,
  createdAt: required("created_at", Int)
})

/** @internal */
export type VoteRow = typeof VoteRow.Type

/** `gatehouse_policies` joined with its latest activation. */
export const ActivePolicyRow = Schema.Struct({
  snapshotId: required("snapshot_id", Schema.String),
  document: JsonText,
  activatedBy: required("activated_by", Schema.String),
  activatedAt: required("activated_at", Int)
})

/** @internal */
export type ActivePolicyRow = typeof ActivePolicyRow.Type

/** `gatehouse_policy_evaluations` */
export const EvaluationRow = Schema.Struct({
  seq: Int,
  runId: column("run_id", Schema.String),
  nodeId: column("node_id", Schema.String),
  snapshotId: required("snapshot_id", Schema.String),
  ruleId: column("rule_id", Schema.String),
  decision: Schema.parseJson(Policy.Decision),
  action: Schema.parseJson(Policy.Action),
  actionHash: required("action_hash", Schema.String),
  createdAt: required("created_at", Int)
})

/** @internal */
export type EvaluationRow = typeof EvaluationRow.Type

/** One single-value aggregate (`COUNT(*) AS n`, `MIN(x) AS n`). */
export const Aggregate = Schema.Struct({ n: column("n", Int) })

/** When a runner's next timer fires, and how long until the first lease it does not renew expires. */
export const WakeAt = Schema.Struct({ timerAt: column("timer_at", Int), leaseDelay: column("lease_delay", Int) })

const storageError = (table: string) => (error: ParseResult.ParseError) =>
  new SqlError({ cause: error, message: `A row of ${table} does not decode: ${ParseResult.TreeFormatter.formatErrorSync(error)}` })

/** Decodes every row of a result with the table's schema. */
export const decodeAll = <A, I>(schema: Schema.Schema<A, I>, table: string) => {
  const decode = Schema.decodeUnknown(Schema.Array(schema))
  return (rows: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<A>, SqlError> =>
    Effect.mapError(decode(rows), storageError(table))
}

/** Decodes the first row of a result, if any. */
export const decodeFirst = <A, I>(schema: Schema.Schema<A, I>, table: string) => {
  const decode = Schema.decodeUnknown(schema)
  return (rows: ReadonlyArray<unknown>): Effect.Effect<Option.Option<A>, SqlError> =>
    rows.length === 0 ? Effect.succeedNone : Effect.asSome(Effect.mapError(decode(rows[0]), storageError(table)))
}

/** `gatehouse_action_links`: one-click decision links, by the SHA-256 of their token (never the token). */
export const ActionLinkRow = Schema.Struct({
  tokenHash: required("token_hash", Schema.String),
  runId: required("run_id", Schema.String),
  nodeId: required("node_id", Schema.String),
  reviewer: Schema.String,
  roles: JsonText.pipe(Schema.compose(Schema.Array(Schema.String))),
  verdict: Schema.Literal("approve", "deny"),
  requestHash: required("request_hash", Schema.String),
  expiresAt: required("expires_at", Int),
  createdAt: required("created_at", Int),
  usedAt: column("used_at", Int)
})

/** @internal */
export type ActionLinkRow = typeof ActionLinkRow.Type
