import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as JSONSchema from "effect/JSONSchema"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { Request, Reviewers } from "../Approval.js"
import * as Run from "../Run.js"
import { WorkflowInstance, type WorkflowInstanceShape } from "../WorkflowInstance.js"
import {
  type ApprovalRow,
  decidedStatuses,
  type Policy,
  requestHash,
  type StoredReviewers
} from "./storage/approvals.js"
import * as ApprovalReuse from "./approvalReuse.js"
import * as Repair from "./approvalRepair.js"
import * as Instance from "./instance.js"
import { jsonProblem, roundTrip, stringProblem } from "./json.js"
import type { ReminderPlan } from "./storage/reminders.js"
import * as Metrics from "./metrics.js"
import * as Tracing from "./tracing.js"
import type { PolicyBinding } from "./rows.js"
import type { NodeRow } from "./rows.js"

/** @internal */
export const Outcome = Schema.Literal("approved", "denied", "changes-requested", "timed-out")

/** @internal */
export const decisionSchema = <P, I>(payload: Schema.Schema<P, I>) =>
  Schema.Struct({
    approved: Schema.Boolean,
    outcome: Outcome,
    note: Schema.optional(Schema.String),
    decidedBy: Schema.String,
    decidedAt: Schema.Number,
    payload: Schema.optional(payload)
  })

/** @internal */
export const storedReviewers = (input: Reviewers | undefined): StoredReviewers => ({
  users: [...(input?.users ?? [])],
  roles: [...(input?.roles ?? [])],
  quorum: Math.max(1, Math.floor(input?.quorum ?? 1)),
  denyQuorum: Math.max(1, Math.floor(input?.denyQuorum ?? 1)),
  allowSelfApproval: input?.allowSelfApproval ?? false
})

/**
 * Why a request cannot be stored as given, or its stored parts: the title, summary and reviewers are
 * text, the metadata and reviewed output JSON that round-trips unchanged (properties that are
 * `undefined` count as absent), and every deadline must be storable.
 */
const validateRequest = (input: Request<any>, now: number): string | {
  readonly metadata: unknown
  readonly reviewed: unknown
  readonly timeoutMillis: number | undefined
  readonly deadline: number | undefined
  readonly escalationMillis: number | undefined
  readonly reminders: ReminderPlan | undefined
  readonly validForMillis: number | undefined
} => {
  const title = stringProblem(input.title)
  if (title !== undefined) return `title ${title}`
  if (input.summary !== undefined) {
    const summary = stringProblem(input.summary)
    if (summary !== undefined) return `summary ${summary}`
  }
  for (const [what, value] of [["metadata", input.metadata], ["reviewed output", input.reviewed]] as const) {
    const problem = jsonProblem(value, { allowUndefined: true, undefinedProperties: "absent" })
    if (problem !== undefined) return `its ${what} must be JSON: ${problem}`
  }
  const reviewers = [input.reviewers, typeof input.onTimeout === "object" ? input.onTimeout.escalateTo : undefined]
  for (const group of reviewers) {
    for (const name of [...(group?.users ?? []), ...(group?.roles ?? [])]) {
      const problem = stringProblem(name)
      if (problem !== undefined) return `a reviewer ${problem}`
    }
  }
  let timeoutMillis: number | undefined = undefined
  let deadline: number | undefined = undefined
  if (input.timeout !== undefined) {
    timeoutMillis = Duration.toMillis(Duration.decode(input.timeout))
    const at = Instance.deadlineAfter(now, timeoutMillis)
    if (typeof at === "string") return `timeout: ${at}`
    deadline = at
    timeoutMillis = Math.ceil(timeoutMillis)
  }
  let escalationMillis: number | undefined = undefined
  if (typeof input.onTimeout === "object") {
    escalationMillis = Duration.toMillis(Duration.decode(input.onTimeout.timeout))
    const at = Instance.deadlineAfter(deadline ?? now, escalationMillis)
    if (typeof at === "string") return `escalation timeout: ${at}`
    escalationMillis = Math.ceil(escalationMillis)
  }
  let reminders: ReminderPlan | undefined = undefined
  if (input.remind !== undefined) {
    const millis = (what: string, value: Duration.DurationInput | undefined) => {
      if (value === undefined) return undefined
      const decoded = Duration.decodeUnknown(value)
      if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) return `remind.${what}: not a finite duration`
      const ms = Math.ceil(Duration.toMillis(decoded.value))
      return what === "every" && ms <= 0 ? `remind.every: must be positive` : ms
    }
    const after = millis("after", input.remind.after)
    const every = millis("every", input.remind.every)
    const until = millis("until", input.remind.until)
    for (const value of [after, every, until]) if (typeof value === "string") return value
    if (after === undefined) return "remind.after: required"
    reminders = {
      firstAt: now + (after as number),
      everyMillis: every as number | undefined,
      untilAt: until === undefined ? undefined : now + (until as number)
    }
  }
  let validForMillis: number | undefined = undefined
  if (input.validFor !== undefined) {
    const decoded = Duration.decodeUnknown(input.validFor)
    if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) return "validFor: not a finite duration"
    validForMillis = Math.ceil(Duration.toMillis(decoded.value))
  }
  return {
    metadata: roundTrip(input.metadata),
    reviewed: roundTrip(input.reviewed),
    timeoutMillis,
    deadline,
    escalationMillis,
    reminders,
    validForMillis
  }
}

// Inside a transaction: the run's lock first (the lock order of `internal/storage/runs.ts`), then the lease check.
const withLease = <A, E, R>(instance: WorkflowInstanceShape, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const state = Instance.stateOf(instance)
    yield* Instance.storage(instance, state.store.lockRun(instance.runId))
    const run = yield* Instance.storage(instance, state.store.getRun(instance.runId))
    if (Option.isNone(run) || run.value.leaseOwner !== state.owner || run.value.status !== "running") {
      state.leaseLost = true
      return yield* Instance.halt(instance)
    }
    return yield* effect
  })

const create = (
  instance: WorkflowInstanceShape,
  id: string,
  input: Request<any>,
  extra: RequestExtra
): Effect.Effect<NodeRow> =>
  Effect.gen(function*() {
    const state = Instance.stateOf(instance)
    const approvals = state.storage.approvals
    const now = yield* Clock.currentTimeMillis
    const valid = validateRequest(input, now)
    if (typeof valid === "string") {
      return yield* Instance.failFatal(instance, new Run.InvalidNode({ runId: instance.runId, nodeId: id, reason: valid }))
    }
    const { deadline, metadata, reviewed, timeoutMillis } = valid
    const onTimeout = input.onTimeout === undefined || typeof input.onTimeout === "string"
      ? input.onTimeout ?? "deny"
      : {
        escalateTo: storedReviewers(input.onTimeout.escalateTo),
        timeoutMillis: valid.escalationMillis ?? 0
      }
    const policy: Policy = {
      onDeny: input.onDeny ?? "fail",
      onTimeout,
      timeoutMillis,
      allowRequestChanges: extra.allowRequestChanges,
      maxRevisions: extra.maxRevisions,
      decisionJsonSchema: input.decision === undefined ? undefined : JSONSchema.make(input.decision),
      ...(extra.binding !== undefined ? { binding: extra.binding } : {})
    }
    const hash = requestHash({ title: input.title, summary: input.summary, metadata, reviewed, revision: extra.revision })
    const row: ApprovalRow = {
      runId: instance.runId,
      nodeId: id,
      baseId: extra.baseId,
      workflow: instance.workflow,
      status: "waiting-approval",
      title: input.title,
      summary: input.summary,
      metadata,
      reviewed,
      requestHash: hash,
      revision: extra.revision,
      policy,
      reviewers: storedReviewers(input.reviewers),
      startedBy: instance.startedBy,
      deadline,
      escalations: 0,
      decision: undefined,
      requestedAt: now,
      decidedAt: undefined,
      updatedAt: now
    }
    // A repaired run first looks for the decision it had before (`approvalReuse.ts`).
    const earlier = yield* Repair.earlier(instance, id)
    const judgement = Option.map(earlier, ({ prior, votes }) =>
      ApprovalReuse.judge(prior, votes, {
        requestHash: hash,
        reviewers: row.reviewers,
        binding: extra.binding,
        validForMillis: valid.validForMillis,
        startedBy: instance.startedBy,
        now
      }))
    if (Option.isSome(earlier) && Option.isSome(judgement) && judgement.value._tag === "Holds") {
      return yield* Repair.reuse(instance, id, row, earlier.value.prior)
    }
    const previous = Option.isSome(earlier) && Option.isSome(judgement) && judgement.value._tag === "AskAgain"
      ? Repair.previousOf(earlier.value.prior, judgement.value.reasons)
      : undefined
    const asked: ApprovalRow = previous === undefined ? row : { ...row, previous }
    const reopen = Option.isSome(earlier) && earlier.value.prior.runId === instance.runId
    const node = yield* Effect.gen(function*() {
      // The run's lock first (the lock order of `internal/storage/runs.ts`): a cancel either ends the run before
      // this request is written, and the fenced write below stops, or closes the request it finds.
      yield* Instance.storage(instance, state.store.lockRun(instance.runId))
      const node = yield* Instance.ensure(instance, { nodeId: id, kind: "approval", status: "waiting-approval", fireAt: deadline })
      yield* Instance.storage(
        instance,
        Effect.all([
          reopen ? approvals.reopen(asked) : approvals.insert(asked),
          previous === undefined ? Effect.void : state.storage.audit.append({
            runId: instance.runId,
            nodeId: id,
            action: "approval.reasked",
            actor: "system",
            requestHash: hash,
            data: { reasons: previous.reasons, previous },
            now
          }),
          valid.reminders === undefined
            ? Effect.void
            : state.storage.reminders.insert(instance.runId, id, valid.reminders),
          state.storage.events.append({
            runId: instance.runId,
            nodeId: id,
            type: "approval.requested",
            data: {
              title: input.title,
              revision: extra.revision,
              requestHash: hash,
              deadline,
              ...(previous !== undefined ? { askedAgain: previous.reasons } : {})
            },
            now
          }),
          state.storage.audit.append({
            runId: instance.runId,
            nodeId: id,
            action: "approval.requested",
            actor: `workflow:${instance.workflow}`,
            requestHash: hash,
            data: { title: input.title, revision: extra.revision, reviewers: row.reviewers, deadline },
            now
          })
        ], { discard: true })
      )
      return node
    }).pipe(state.storage.transaction, (effect) => Instance.storage(instance, effect))
    yield* Metric.increment(Metrics.approvalsRequested)
    return node
  })

const timeOut = (
  instance: WorkflowInstanceShape,
  id: string,
  node: NodeRow
): Effect.Effect<NodeRow> =>
  Effect.gen(function*() {
    const state = Instance.stateOf(instance)
    const approvals = state.storage.approvals
    yield* Instance.guard(instance)
    const now = yield* Clock.currentTimeMillis
    // Locked like a decision, so a decision and the deadline cannot both win.
    const approval = yield* Instance.storage(instance, approvals.resolve(instance.runId, id, { lock: true }))
    if (Option.isNone(approval)) return yield* Effect.dieMessage(`Approval "${id}" has a node but no request`)
    const current = Instance.storage(instance, state.store.getNode(instance.runId, id)).pipe(
      Effect.map(Option.getOrElse(() => node))
    )
    if (approval.value.status !== "waiting-approval") return yield* current
    const onTimeout = approval.value.policy.onTimeout
    if (typeof onTimeout === "object" && approval.value.escalations === 0) {
      const deadline = now + onTimeout.timeoutMillis
      const escalated = yield* approvals.escalate({
        runId: instance.runId,
        nodeId: id,
        reviewers: onTimeout.escalateTo,
        deadline,
        now
      })
      if (!escalated) return yield* current
      yield* state.storage.events.append({
        runId: instance.runId,
        nodeId: id,
        type: "approval.escalated",
        data: { reviewers: onTimeout.escalateTo, deadline },
        now
      })
      yield* state.storage.audit.append({
        runId: instance.runId,
        nodeId: id,
        action: "approval.escalated",
        actor: "system",
        requestHash: approval.value.requestHash,
        data: { from: approval.value.reviewers, to: onTimeout.escalateTo, deadline },
        now
      })
      yield* Metric.increment(Metrics.approvalsEscalated)
      return { ...node, fireAt: deadline }
    }
    const decision = {
      approved: false,
      outcome: "timed-out" as const,
      note: "No decision before the deadline",
      decidedBy: "system",
      decidedAt: now
    }
    const settled = yield* approvals.settle({ runId: instance.runId, nodeId: id, status: "timed-out", decision, now })
    if (!settled) return yield* current
    yield* state.storage.events.append({ runId: instance.runId, nodeId: id, type: "approval.timed-out", now })
    yield* state.storage.audit.append({
      runId: instance.runId,
      nodeId: id,
      action: "approval.timed-out",
      actor: "system",
      requestHash: approval.value.requestHash,
      data: { onTimeout: typeof onTimeout === "string" ? onTimeout : "deny-after-escalation" },
      now
    })
    yield* Metric.increment(Metrics.approvalsTimedOut)
    return { ...node, status: "timed-out" as const, exit: decision, completedAt: now }
  }).pipe(
    (effect) => withLease(instance, effect),
    Instance.stateOf(instance).storage.transaction,
    (effect) => Instance.storage(instance, effect),
    Effect.tap((row) => Effect.sync(() => Instance.stateOf(instance).journal.set(row.nodeId, row)))
  )

/** @internal */
export interface RequestExtra {
  readonly baseId: string
  readonly revision: number
  readonly allowRequestChanges: boolean
  readonly maxRevisions: number | undefined
  /** Set when a policy rule requires the approval. */
  readonly binding?: PolicyBinding | undefined
}

/**
 * The approval node: creates the request the first time it is reached, suspends the run while it is
 * undecided, handles its deadline, and returns (or fails with) the recorded decision on replay.
 *
 * @internal
 */
export const request = <P>(
  id: string,
  input: Request<P>,
  extra: RequestExtra = { baseId: id, revision: 0, allowRequestChanges: false, maxRevisions: undefined }
) =>
  Effect.flatMap(WorkflowInstance, (instance) => Instance.node(instance, Effect.gen(function*() {
    yield* Effect.annotateCurrentSpan("runId", instance.runId)
    const schema = decisionSchema((input.decision ?? Schema.Never) as Schema.Schema<P, any>)
    const recorded = yield* Instance.lookup(instance, id, "approval")
    let node = Option.isSome(recorded) ? recorded.value : yield* create(instance, id, input, extra)
    while (true) {
      if (decidedStatuses.includes(node.status)) {
        const decision = yield* Schema.decodeUnknown(schema)(node.exit).pipe(
          Effect.orDieWith((error) => new Error(`Decision of approval "${id}" does not decode: ${error.message}`))
        )
        if (decision.approved || decision.outcome === "changes-requested" || input.onDeny === "continue") {
          return decision
        }
        return yield* Instance.failFatal(
          instance,
          new Run.ApprovalDenied({
            runId: instance.runId,
            nodeId: id,
            decidedBy: decision.decidedBy,
            outcome: decision.outcome === "timed-out" ? "timed-out" : "denied",
            ...(decision.note !== undefined ? { note: decision.note } : {})
          })
        )
      }
      if (node.status === "canceled") {
        // Closed by a cancel of the run: this execution has nothing more to do.
        Instance.stateOf(instance).leaseLost = true
        return yield* Instance.halt(instance)
      }
      const now = yield* Clock.currentTimeMillis
      if (node.fireAt !== undefined && now >= node.fireAt) {
        node = yield* timeOut(instance, id, node)
        if (node.status === "timed-out" && input.onTimeout === "fail") {
          return yield* Instance.failFatal(
            instance,
            new Run.ApprovalTimedOut({ runId: instance.runId, nodeId: id, deadline: node.fireAt ?? now })
          )
        }
        continue
      }
      return yield* Instance.suspend(instance, { approval: true, wakeAt: node.fireAt })
    }
  }))).pipe(Tracing.span("gatehouse.approval.request", { nodeId: id }))
