/**
 * What a run is from the outside: its id, its status, its journal of nodes, and the errors a caller
 * of the client API can meet. These are plain Schemas so the HTTP API and the CLI share them.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { ApprovalStatus } from "./internal/approvals/models.js"
import * as Policy from "./Policy.js"

/**
 * The id of a run. Derived from the workflow name and the idempotency key when the workflow has one,
 * so starting the same work twice finds the same run.
 *
 * @since 0.1.0
 * @category models
 */
export const RunId: Schema.brand<typeof Schema.String, "@gatehouse/engine/RunId"> = Schema.String.pipe(
  Schema.brand("@gatehouse/engine/RunId")
)

/**
 * @since 0.1.0
 * @category models
 */
export type RunId = typeof RunId.Type

/**
 * Lifecycle of a run.
 *
 * - `pending`: started, not yet claimed by a runner
 * - `running`: a runner holds its lease and is replaying it
 * - `suspended`: waiting on a durable deferred or timer; nothing of it is in memory
 * - `waiting-approval`: suspended on at least one undecided approval
 * - `runnable`: woken (a completion, a decision, a timer) and waiting for a runner
 * - `completed` | `failed` | `canceled`: terminal
 *
 * @since 0.1.0
 * @category models
 */
export const RunStatus = Schema.Literal(
  "pending",
  "running",
  "suspended",
  "waiting-approval",
  "runnable",
  "completed",
  "failed",
  "canceled"
)

/**
 * @since 0.1.0
 * @category models
 */
export type RunStatus = typeof RunStatus.Type

/**
 * The statuses a run never leaves.
 *
 * @since 0.1.0
 * @category models
 */
export const terminalStatuses: ReadonlyArray<RunStatus> = ["completed", "failed", "canceled"]

/**
 * @since 0.1.0
 * @category predicates
 */
export const isTerminal = (status: RunStatus): boolean => terminalStatuses.includes(status)

/**
 * The kind of a journal node. A node id keeps its kind for the life of a run: reaching it on replay
 * as another kind is a non-determinism error.
 *
 * @since 0.1.0
 * @category models
 */
export const NodeKind = Schema.Literal("step", "deferred", "clock", "approval")

/**
 * @since 0.1.0
 * @category models
 */
export type NodeKind = typeof NodeKind.Type

/**
 * A node's status: a node's own, or, for an approval's node, the approval's (`Approvals.ApprovalStatus`).
 *
 * @since 0.1.0
 * @category models
 */
export const NodeStatus = Schema.Literal("waiting", "completed", "requested", ...ApprovalStatus.literals)

/**
 * @since 0.1.0
 * @category models
 */
export type NodeStatus = typeof NodeStatus.Type

/**
 * One row of a run's journal.
 *
 * @since 0.1.0
 * @category models
 */
export class Node extends Schema.Class<Node>("@gatehouse/engine/Run/Node")({
  nodeId: Schema.String,
  kind: NodeKind,
  status: NodeStatus,
  /** The recorded Exit, encoded with the node's schemas (JSON), when the node has completed. */
  exit: Schema.optional(Schema.Unknown),
  attempt: Schema.Number,
  seq: Schema.Number,
  fireAt: Schema.optional(Schema.Number),
  startedAt: Schema.Number,
  completedAt: Schema.optional(Schema.Number)
}) {}

/**
 * A run as the client API reports it.
 *
 * @since 0.1.0
 * @category models
 */
export class Summary extends Schema.Class<Summary>("@gatehouse/engine/Run/Summary")({
  runId: RunId,
  workflow: Schema.String,
  status: RunStatus,
  idempotencyKey: Schema.optional(Schema.String),
  payload: Schema.Unknown,
  /** The run's Exit encoded with the workflow's schemas, once terminal. */
  result: Schema.optional(Schema.Unknown),
  /** A readable reason when the run failed or was canceled. */
  error: Schema.optional(Schema.String),
  startedBy: Schema.optional(Schema.String),
  /** The runner executing the run now, while it is `running`. */
  leaseOwner: Schema.optional(Schema.String),
  leaseExpiresAt: Schema.optional(Schema.Number),
  /** The runner whose expired lease the last claim took over, if it was a takeover. */
  takenOverFrom: Schema.optional(Schema.String),
  wakeAt: Schema.optional(Schema.Number),
  claims: Schema.Number,
  createdAt: Schema.Number,
  updatedAt: Schema.Number,
  completedAt: Schema.optional(Schema.Number),
  /** The run this one was forked from (`Workflows.fork`), and the node it ran again from. */
  forkedFrom: Schema.optional(Schema.Struct({ runId: Schema.String, nodeId: Schema.String })),
  /** The runs forked from this one, oldest first. */
  forks: Schema.optional(Schema.Array(Schema.String)),
  /** How many times the run was resumed after it failed or was canceled (`Workflows.resume`). */
  repairs: Schema.optionalWith(Schema.Number, { default: () => 0 })
}) {}

/**
 * A run with every node of its journal in the order they were reached.
 *
 * @since 0.1.0
 * @category models
 */
export class Inspection extends Schema.Class<Inspection>("@gatehouse/engine/Run/Inspection")({
  run: Summary,
  /** The journal; an approval node's `exit` is its recorded decision. */
  nodes: Schema.Array(Node),
  /** The run's events from the outbox, in the order they were committed. */
  events: Schema.Array(Schema.Struct({
    type: Schema.String,
    nodeId: Schema.optional(Schema.String),
    actor: Schema.optional(Schema.String),
    data: Schema.optional(Schema.Unknown),
    createdAt: Schema.Number
  }))
}) {}

/**
 * @since 0.1.0
 * @category errors
 */
export class RunNotFound extends Schema.TaggedError<RunNotFound>("@gatehouse/engine/RunNotFound")("RunNotFound", {
  runId: Schema.String
}) {
  override get message(): string {
    return `No run with id "${this.runId}"`
  }
}

/**
 * The payload of a start, or a value sent to a run, does not match the schema it is declared with.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPayload extends Schema.TaggedError<InvalidPayload>("@gatehouse/engine/InvalidPayload")(
  "InvalidPayload",
  {
    /** The workflow; for a deferred's completion, `deferred <name>`. */
    workflow: Schema.String,
    /** Set when the payload is a deferred's completion: the deferred's name. */
    deferred: Schema.optional(Schema.String),
    reason: Schema.String
  }
) {
  override get message(): string {
    return this.deferred !== undefined
      ? `Invalid completion of deferred "${this.deferred}": ${this.reason}`
      : `Invalid payload for workflow "${this.workflow}": ${this.reason}`
  }
}

/**
 * A start by name (`Workflows.startByName`, `POST /v1/workflows/{name}/runs`) of a workflow this process
 * does not know: no `toLayer` of it is registered here, nor its definition. Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class WorkflowNotFound extends Schema.TaggedError<WorkflowNotFound>("@gatehouse/engine/WorkflowNotFound")(
  "WorkflowNotFound",
  { workflow: Schema.String }
) {
  override get message(): string {
    return `No workflow "${this.workflow}" is registered in this process`
  }
}

/**
 * The run has ended (completed, failed or canceled) and can no longer be resumed.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunNotActive extends Schema.TaggedError<RunNotActive>("@gatehouse/engine/RunNotActive")("RunNotActive", {
  runId: Schema.String,
  status: RunStatus
}) {
  override get message(): string {
    return `Run "${this.runId}" is ${this.status} and can no longer be resumed`
  }
}

/**
 * The run was canceled by an operator before it finished.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunCanceled extends Schema.TaggedError<RunCanceled>("@gatehouse/engine/RunCanceled")("RunCanceled", {
  runId: Schema.String,
  reason: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `Run "${this.runId}" was canceled${this.reason ? `: ${this.reason}` : ""}`
  }
}

/**
 * Replay reached a node id whose recorded kind differs from the one the code asks for: the workflow's
 * code changed in a way its journal cannot follow. The run fails; the journal is left untouched.
 *
 * @since 0.1.0
 * @category errors
 */
export class NonDeterminism extends Schema.TaggedError<NonDeterminism>("@gatehouse/engine/NonDeterminism")(
  "NonDeterminism",
  {
    runId: Schema.String,
    nodeId: Schema.String,
    expected: NodeKind,
    actual: NodeKind
  }
) {
  override get message(): string {
    const article = (kind: string) => /^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`
    return `Non-determinism in run "${this.runId}": node "${this.nodeId}" was recorded as ${article(this.actual)} ` +
      `but the workflow now reaches it as ${article(this.expected)}`
  }
}

/**
 * An approval with `onDeny: "fail"` was denied (or timed out into a denial): the run ends `failed` with
 * this error, its nodes still in flight are canceled, and nothing after the approval runs.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApprovalDenied extends Schema.TaggedError<ApprovalDenied>("@gatehouse/engine/ApprovalDenied")(
  "ApprovalDenied",
  {
    runId: Schema.String,
    nodeId: Schema.String,
    decidedBy: Schema.String,
    note: Schema.optional(Schema.String),
    outcome: Schema.Literal("denied", "timed-out")
  }
) {
  override get message(): string {
    return this.outcome === "timed-out"
      ? `Approval "${this.nodeId}" timed out and counts as denied`
      : `Approval "${this.nodeId}" was denied by ${this.decidedBy}${this.note ? `: ${this.note}` : ""}`
  }
}

/**
 * An approval with `onTimeout: "fail"` reached its deadline undecided.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApprovalTimedOut extends Schema.TaggedError<ApprovalTimedOut>("@gatehouse/engine/ApprovalTimedOut")(
  "ApprovalTimedOut",
  { runId: Schema.String, nodeId: Schema.String, deadline: Schema.Number }
) {
  override get message(): string {
    return `Approval "${this.nodeId}" was not decided before its deadline`
  }
}

/**
 * The same node id was reached twice in one execution of a run (a `Step.run("charge", …)` inside a
 * loop): the second would silently return the first one's result. Give each node its own id (derive it
 * from the loop's index or the item). Reaching recorded ids again on a later replay is not this error.
 *
 * @since 0.1.0
 * @category errors
 */
export class DuplicateNodeId extends Schema.TaggedError<DuplicateNodeId>("@gatehouse/engine/DuplicateNodeId")(
  "DuplicateNodeId",
  { runId: Schema.String, nodeId: Schema.String }
) {
  override get message(): string {
    return `Node id "${this.nodeId}" was reached twice in one execution of run "${this.runId}": ` +
      `each durable node needs its own id`
  }
}

/**
 * A durable node was declared with something the engine cannot store: an id with a NUL character, a
 * duration whose deadline is out of range (`Duration.infinity`), approval fields that are not JSON. The
 * run fails at the call, naming the node; nothing of the node is written.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidNode extends Schema.TaggedError<InvalidNode>("@gatehouse/engine/InvalidNode")(
  "InvalidNode",
  { runId: Schema.String, nodeId: Schema.String, reason: Schema.String }
) {
  override get message(): string {
    // The id is quoted as JSON: it may hold the very characters (NUL) a text column refuses.
    return `Node ${JSON.stringify(this.nodeId)} of run "${this.runId}" is invalid: ${this.reason}`
  }
}

/**
 * Errors with which the engine itself ends a run, whatever the workflow's body does with them.
 *
 * @since 0.1.0
 * @category errors
 */
export const RunFatal = Schema.Union(
  NonDeterminism,
  ApprovalDenied,
  ApprovalTimedOut,
  DuplicateNodeId,
  InvalidNode,
  Policy.PolicyDenied,
  Policy.Throttled
)

/**
 * @since 0.1.0
 * @category errors
 */
export type RunFatal = typeof RunFatal.Type
