/**
 * What a run is waiting on and what would unblock it, in one answer: the approvals it waits for (who may
 * still sign, how many more votes are needed, the deadline and what happens at it), its timers and
 * deferreds, a runner, or nothing because it ended. The CLI's `gatehouse why`, the HTTP API's
 * `GET /v1/runs/{runId}/waiting` and the web inbox's "why it is waiting" all read it from here, so they
 * cannot disagree.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Approvals from "./Approvals.js"
import { subjectOf } from "./internal/approvals/records.js"
import * as Decision from "./internal/decision.js"
import * as Run from "./Run.js"
import type { StorageError } from "./StorageError.js"
import * as Workflows from "./Workflows.js"

/**
 * Votes of the current round toward a verdict's quorum.
 *
 * @since 0.1.0
 * @category models
 */
export const Tally = Schema.Struct({
  have: Schema.Number,
  need: Schema.Number
})

/**
 * What the approval's deadline does when it passes undecided: `escalate` to other reviewers, count as a
 * `deny` (the node's `onDeny` then applies), or `fail` the run.
 *
 * @since 0.1.0
 * @category models
 */
export const AtDeadline = Schema.Literal("escalate", "deny", "fail")

/**
 * @since 0.1.0
 * @category models
 */
export type AtDeadline = typeof AtDeadline.Type

/**
 * A run waits on an undecided approval.
 *
 * @since 0.1.0
 * @category models
 */
export class ApprovalWait extends Schema.TaggedClass<ApprovalWait>("@gatehouse/engine/Waiting/ApprovalWait")(
  "ApprovalWait",
  {
    nodeId: Schema.String,
    title: Schema.String,
    revision: Schema.Number,
    requestHash: Schema.String,
    requestedAt: Schema.Number,
    /** The code path that asked: the workflow and the node id it gave `Approval.request`. */
    requestedBy: Schema.String,
    /** Reviewers of the current round who have not voted yet: users by id, and the roles any of whose holders may sign. */
    mayStillSign: Schema.Struct({ users: Schema.Array(Schema.String), roles: Schema.Array(Schema.String) }),
    /** Who may not approve even if listed: the run's starter, unless self-approval is allowed. */
    excluded: Schema.Array(Schema.String),
    approvals: Tally,
    denials: Tally,
    /** Votes of the current round. */
    votes: Schema.Array(Approvals.Vote),
    escalations: Schema.Number,
    deadline: Schema.optional(Schema.Number),
    atDeadline: Schema.optional(AtDeadline),
    /** With `atDeadline: "escalate"`: who the approval goes to. */
    escalateTo: Schema.optional(Schema.Struct({ users: Schema.Array(Schema.String), roles: Schema.Array(Schema.String) })),
    /**
     * Set when a resumed or forked run asked this approval again instead of reusing the decision it had:
     * that decision and why it did not hold (`docs/repair.md`).
     */
    askedAgain: Schema.optional(Schema.Struct({
      status: Schema.String,
      decidedBy: Schema.optional(Schema.String),
      decidedAt: Schema.optional(Schema.Number),
      reasons: Schema.Array(Schema.String)
    }))
  }
) {}

/**
 * A run sleeps on a durable timer.
 *
 * @since 0.1.0
 * @category models
 */
export class TimerWait extends Schema.TaggedClass<TimerWait>("@gatehouse/engine/Waiting/TimerWait")("TimerWait", {
  nodeId: Schema.String,
  fireAt: Schema.Number
}) {}

/**
 * A run awaits a durable deferred that something outside must complete (a webhook, another run).
 *
 * @since 0.1.0
 * @category models
 */
export class DeferredWait extends Schema.TaggedClass<DeferredWait>("@gatehouse/engine/Waiting/DeferredWait")(
  "DeferredWait",
  { nodeId: Schema.String, since: Schema.Number }
) {}

/**
 * A run waits for, or is held by, a runner: started or woken and not yet claimed, or executing now.
 *
 * @since 0.1.0
 * @category models
 */
export class RunnerWait extends Schema.TaggedClass<RunnerWait>("@gatehouse/engine/Waiting/RunnerWait")("RunnerWait", {
  status: Schema.Literal("pending", "runnable", "running"),
  leaseOwner: Schema.optional(Schema.String),
  leaseExpiresAt: Schema.optional(Schema.Number),
  wakeAt: Schema.optional(Schema.Number)
}) {}

/**
 * A run that ended waits on nothing; `error` says why it failed or was canceled.
 *
 * @since 0.1.0
 * @category models
 */
export class Ended extends Schema.TaggedClass<Ended>("@gatehouse/engine/Waiting/Ended")("Ended", {
  status: Schema.Literal("completed", "failed", "canceled"),
  error: Schema.optional(Schema.String),
  completedAt: Schema.optional(Schema.Number)
}) {}

/**
 * One thing a run waits on.
 *
 * @since 0.1.0
 * @category models
 */
export const Blocker = Schema.Union(ApprovalWait, TimerWait, DeferredWait, RunnerWait, Ended)

/**
 * @since 0.1.0
 * @category models
 */
export type Blocker = typeof Blocker.Type

/**
 * A run and everything it waits on (several with parallel branches), in journal order.
 *
 * @since 0.1.0
 * @category models
 */
export class Explanation extends Schema.Class<Explanation>("@gatehouse/engine/Waiting/Explanation")({
  run: Run.Summary,
  blockers: Schema.Array(Blocker),
  /** The engine's clock when this was read, so relative times are computed from the same instant. */
  now: Schema.Number
}) {}

/**
 * What an undecided approval waits for, from its record (with votes, as `Approvals.get` returns it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const approvalWait = (approval: Approvals.ApprovalRecord): ApprovalWait => {
  // Who may still sign and the tallies are the decision rule's (`internal/decision.ts`), on the record.
  const { approvals, denials, excluded, mayStillSign, votes } = Decision.standing({
    ...subjectOf(approval, { runEnded: false }),
    votes: approval.votes ?? []
  })
  const atDeadline: AtDeadline | undefined = approval.deadline === undefined
    ? undefined
    : approval.atDeadline === "escalate"
    ? "escalate"
    : approval.onTimeout
  return new ApprovalWait({
    nodeId: approval.nodeId,
    title: approval.title,
    revision: approval.revision,
    requestHash: approval.requestHash,
    requestedAt: approval.requestedAt,
    requestedBy: `workflow ${approval.workflow}, Approval.request("${approval.baseId}")`,
    mayStillSign,
    excluded,
    approvals,
    denials,
    votes,
    escalations: approval.escalations,
    ...(approval.deadline !== undefined ? { deadline: approval.deadline } : {}),
    ...(atDeadline !== undefined ? { atDeadline } : {}),
    ...(atDeadline === "escalate" && approval.escalateTo !== undefined
      ? { escalateTo: { users: approval.escalateTo.users, roles: approval.escalateTo.roles } }
      : {}),
    ...(approval.previous !== undefined
      ? {
        askedAgain: {
          status: approval.previous.status,
          ...(approval.previous.decidedBy !== undefined ? { decidedBy: approval.previous.decidedBy } : {}),
          ...(approval.previous.decidedAt !== undefined ? { decidedAt: approval.previous.decidedAt } : {}),
          reasons: approval.previous.reasons
        }
      }
      : {})
  })
}

/**
 * Reads what a run waits on now.
 *
 * @example
 * ```ts
 * import { Waiting } from "@gatehouse/engine"
 * import { Console, Effect } from "effect"
 *
 * const why = Waiting.explain("release-42").pipe(
 *   Effect.tap(({ blockers }) => Console.log(blockers.map((blocker) => blocker._tag)))
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const explain = (
  runId: string
): Effect.Effect<Explanation, Run.RunNotFound | StorageError, Workflows.Workflows | Approvals.Approvals> =>
  Effect.gen(function*() {
    const workflows = yield* Workflows.Workflows
    const approvals = yield* Approvals.Approvals
    const inspection = yield* workflows.inspect(runId)
    const now = yield* Clock.currentTimeMillis
    const { run } = inspection
    const blockers: Array<Blocker> = []
    if (Run.isTerminal(run.status)) {
      blockers.push(
        new Ended({
          status: run.status as Ended["status"],
          ...(run.error !== undefined ? { error: run.error } : {}),
          ...(run.completedAt !== undefined ? { completedAt: run.completedAt } : {})
        })
      )
      return new Explanation({ run, blockers, now })
    }
    for (const node of inspection.nodes) {
      if (node.kind === "approval" && node.status === "waiting-approval") {
        const approval = yield* approvals.get({ runId, nodeId: node.nodeId }).pipe(
          Effect.catchTag("ApprovalNotFound", () => Effect.succeed(undefined))
        )
        if (approval !== undefined && approval.status === "waiting-approval") blockers.push(approvalWait(approval))
      } else if (node.kind === "clock" && node.status === "waiting" && node.fireAt !== undefined) {
        blockers.push(new TimerWait({ nodeId: node.nodeId, fireAt: node.fireAt }))
      } else if (node.kind === "deferred" && node.status === "waiting") {
        blockers.push(new DeferredWait({ nodeId: node.nodeId, since: node.startedAt }))
      }
    }
    if (run.status === "pending" || run.status === "runnable" || run.status === "running") {
      blockers.push(
        new RunnerWait({
          status: run.status,
          ...(run.leaseOwner !== undefined ? { leaseOwner: run.leaseOwner } : {}),
          ...(run.leaseExpiresAt !== undefined ? { leaseExpiresAt: run.leaseExpiresAt } : {}),
          ...(run.wakeAt !== undefined ? { wakeAt: run.wakeAt } : {})
        })
      )
    }
    return new Explanation({ run, blockers, now })
  })
