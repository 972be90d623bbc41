import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Run from "../Run.js"
import { WorkflowInstance, type WorkflowInstanceShape } from "../WorkflowInstance.js"
import { textProblem } from "./json.js"
import type { NewNode, NodeRow, Store } from "./store.js"
import type { StartGate } from "./rows.js"

/**
 * The mutable state of one execution of a run, owned by the fiber replaying it. It never outlives that
 * fiber: a suspended run has no instance.
 *
 * @internal
 */
export class InstanceState {
  readonly journal: Map<string, NodeRow>
  nextSeq: number
  /** Set when the body stopped because it waits; the interrupt that follows is a suspension. */
  suspended = false
  /** Set when at least one of the waits is an approval. */
  waitingApproval = false
  /** Earliest timer the run waits on. */
  wakeAt: number | undefined = undefined
  /** A reason the run must fail whatever the body does with it (non-determinism, a denial that fails). */
  fatal: Run.RunFatal | undefined = undefined
  /** The lease was lost or the run canceled: stop without writing anything more. */
  leaseLost = false
  /**
   * False once the runner cannot be sure it still holds the run's lease (canceled, taken over, or its last
   * renewal is too old): nothing more of the run may start. Set by the runner.
   */
  leaseHeld: () => boolean = () => true
  /** Storage failed mid-execution: give the run back so it is replayed later. */
  storageFailure: SqlError | undefined = undefined
  /** Node ids reached in this execution: reaching one twice is `DuplicateNodeId`. */
  readonly reached = new Set<string>()
  /** The approval the policy put before the run's body when it started, if it did. */
  startGate: StartGate | undefined = undefined
  /** How a checkpoint is written: the runner shares commits between its runs (`internal/groupCommit.ts`). */
  writeCheckpoint: (owner: string, node: NewNode) => Effect.Effect<boolean, SqlError>

  constructor(
    readonly store: Store,
    readonly owner: string,
    readonly wakeSeq: number,
    nodes: ReadonlyArray<NodeRow>
  ) {
    this.writeCheckpoint = store.checkpoint
    this.journal = new Map(nodes.map((node) => [node.nodeId, node]))
    this.nextSeq = nodes.reduce((max, node) => Math.max(max, node.seq), 0) + 1
  }
}

/** @internal */
export const make = (options: {
  readonly runId: string
  readonly workflow: string
  readonly startedBy: string | undefined
  readonly claims: number
  readonly state: InstanceState
}): WorkflowInstanceShape => {
  const instance: WorkflowInstanceShape = {
    runId: Run.RunId.make(options.runId),
    workflow: options.workflow,
    startedBy: options.startedBy,
    claims: options.claims
  }
  states.set(instance, options.state)
  return instance
}

// The execution's state, reachable from the engine's own nodes only: a workflow body sees the public
// fields of its instance, never the store, the lease owner or the control flags.
const states = new WeakMap<WorkflowInstanceShape, InstanceState>()

/**
 * The state of the execution an instance belongs to.
 *
 * @internal
 */
export const stateOf = (instance: WorkflowInstanceShape): InstanceState => {
  const state = states.get(instance)
  if (state === undefined) throw new Error(`Run "${instance.runId}" is not an execution of this engine`)
  return state
}

/** @internal */
export const current: Effect.Effect<WorkflowInstanceShape, never, WorkflowInstance> = WorkflowInstance

/**
 * Ends the execution: the runner sees the interrupt and the flags on the state, and stores the run
 * accordingly. An interrupt rather than a failure, so a body's `catchAll` cannot swallow it.
 */
/** @internal */
export const stop = Effect.interrupt

/**
 * Set in the fiber of a node that suspended the run, before its interrupt. Forked fibers inherit it and a
 * fiber that joins another takes it over (`Fiber.join`, `Effect.all`), so whatever runs after the
 * suspension point sees it, whatever the body did with the interrupt (`catchAllCause`, `exit`,
 * `sandbox`). The runner reads it in the run's root fiber: set there, the run is stored suspended
 * whatever the body's exit. A race (`Effect.race`) only inherits from its winner, so a durable timer
 * that wins against a waiting approval still lets the run go on.
 *
 * @internal
 */
export const suspendedHere: FiberRef.FiberRef<boolean> = FiberRef.unsafeMake(false, {
  join: (parent, child) => parent || child
})

/**
 * Stops at once if this execution must not go on here: it suspended at an earlier point of this fiber,
 * it is ending on a fatal error, its lease is gone or storage failed. Every durable node passes here
 * before it reads, runs or writes anything.
 *
 * @internal
 */
export const guard = (instance: WorkflowInstanceShape): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(suspendedHere), (suspended) => {
    const state = stateOf(instance)
    if (!state.leaseLost && !state.leaseHeld()) state.leaseLost = true
    return suspended || state.fatal !== undefined || state.leaseLost || state.storageFailure !== undefined
      ? stop
      : Effect.void
  })

/** @internal */
export const failFatal = (instance: WorkflowInstanceShape, error: Run.RunFatal): Effect.Effect<never> =>
  Effect.suspend(() => {
    stateOf(instance).fatal ??= error
    return stop
  })

/** @internal */
export const suspend = (
  instance: WorkflowInstanceShape,
  options: { readonly wakeAt?: number | undefined; readonly approval?: boolean | undefined } = {}
): Effect.Effect<never> =>
  Effect.suspend(() => {
    const state = stateOf(instance)
    state.suspended = true
    if (options.approval) state.waitingApproval = true
    if (options.wakeAt !== undefined) {
      state.wakeAt = state.wakeAt === undefined ? options.wakeAt : Math.min(state.wakeAt, options.wakeAt)
    }
    return Effect.zipRight(FiberRef.set(suspendedHere, true), stop)
  })

/**
 * Runs a storage effect; on failure the execution stops and the run is given back. A `SqlError` raised as
 * a defect counts too: `withTransaction` dies when its COMMIT or ROLLBACK fails, which is what a dropped
 * connection does to a transaction in flight, and that must replay the run, not fail it.
 *
 * @internal
 */
export const storage = <A>(instance: WorkflowInstanceShape, effect: Effect.Effect<A, SqlError>): Effect.Effect<A> =>
  Effect.catchAllCause(effect, (cause) => {
    const error = Option.orElse(Cause.failureOption(cause), () => Cause.find(cause, sqlErrorDefect))
    if (Option.isNone(error)) return Effect.failCause(cause as Cause.Cause<never>)
    return Effect.suspend(() => {
      stateOf(instance).storageFailure ??= error.value
      return stop
    })
  })

/** @internal */
export const sqlErrorDefect = (cause: Cause.Cause<unknown>): Option.Option<SqlError> =>
  cause._tag === "Die" && isSqlError(cause.defect) ? Option.some(cause.defect) : Option.none()

const isSqlError = (u: unknown): u is SqlError =>
  typeof u === "object" && u !== null && "_tag" in u && (u as { _tag: unknown })._tag === "SqlError"

/**
 * The recorded node with this id, if any. Reaching a recorded id as another kind fails the run with
 * `NonDeterminism` and leaves the journal as it is.
 *
 * @internal
 */
export const lookup = (
  instance: WorkflowInstanceShape,
  nodeId: string,
  kind: Run.NodeKind
): Effect.Effect<Option.Option<NodeRow>> =>
  Effect.zipRight(
    guard(instance),
    Effect.suspend(() => {
      const state = stateOf(instance)
      const invalid = typeof nodeId !== "string" || nodeId === ""
        ? "a node id must be a non-empty string"
        : textProblem(nodeId)
      if (invalid !== undefined) {
        return failFatal(instance, new Run.InvalidNode({ runId: instance.runId, nodeId: String(nodeId), reason: invalid }))
      }
      if (state.reached.has(nodeId)) {
        return failFatal(instance, new Run.DuplicateNodeId({ runId: instance.runId, nodeId }))
      }
      state.reached.add(nodeId)
      return lookupRecorded(instance, nodeId, kind)
    })
  )

const lookupRecorded = (
  instance: WorkflowInstanceShape,
  nodeId: string,
  kind: Run.NodeKind
): Effect.Effect<Option.Option<NodeRow>> =>
  Effect.suspend(() => {
    const node = stateOf(instance).journal.get(nodeId)
    if (node === undefined) return Effect.succeed(Option.none())
    if (node.kind !== kind) {
      return failFatal(
        instance,
        new Run.NonDeterminism({ runId: instance.runId, nodeId, expected: kind, actual: node.kind })
      )
    }
    return Effect.succeed(Option.some(node))
  })

const newNode = (
  instance: WorkflowInstanceShape,
  node: {
    readonly nodeId: string
    readonly kind: Run.NodeKind
    readonly status: Run.NodeStatus
    readonly exit?: unknown
    readonly attempt?: number
    readonly fireAt?: number | undefined
    readonly jsonSchema?: unknown
  },
  now: number
): NewNode => {
  const existing = stateOf(instance).journal.get(node.nodeId)
  return {
    runId: instance.runId,
    nodeId: node.nodeId,
    kind: node.kind,
    status: node.status,
    exit: node.exit,
    attempt: node.attempt ?? existing?.attempt ?? 0,
    seq: existing?.seq ?? stateOf(instance).nextSeq++,
    fireAt: node.fireAt ?? existing?.fireAt,
    now,
    ...(node.jsonSchema === undefined ? {} : { jsonSchema: node.jsonSchema })
  }
}

const remember = (instance: WorkflowInstanceShape, node: NewNode): NodeRow => {
  const row: NodeRow = {
    nodeId: node.nodeId,
    kind: node.kind,
    status: node.status,
    exit: node.exit,
    attempt: node.attempt,
    seq: node.seq,
    fireAt: node.fireAt,
    startedAt: stateOf(instance).journal.get(node.nodeId)?.startedAt ?? node.now,
    completedAt: node.status === "completed" ? node.now : undefined
  }
  stateOf(instance).journal.set(node.nodeId, row)
  return row
}

/**
 * Records a node's outcome in one fenced write. If the lease is gone (another runner took the run, or
 * it was canceled) the execution stops without writing.
 *
 * @internal
 */
export const checkpoint = (
  instance: WorkflowInstanceShape,
  node: {
    readonly nodeId: string
    readonly kind: Run.NodeKind
    readonly status: Run.NodeStatus
    readonly exit?: unknown
    readonly attempt?: number
    readonly fireAt?: number | undefined
  }
): Effect.Effect<NodeRow> =>
  Effect.flatMap(Effect.zipRight(guard(instance), Clock.currentTimeMillis), (now) => {
    const row = newNode(instance, node, now)
    return storage(instance, stateOf(instance).writeCheckpoint(stateOf(instance).owner, row)).pipe(
      Effect.flatMap((written) => {
        if (written) return Effect.succeed(remember(instance, row))
        stateOf(instance).leaseLost = true
        return stop
      })
    )
  })

/**
 * Writes a waiting node unless it exists and returns it as stored: when an outside completion got there
 * first, the caller sees the completed row.
 *
 * @internal
 */
export const ensure = (
  instance: WorkflowInstanceShape,
  node: {
    readonly nodeId: string
    readonly kind: Run.NodeKind
    readonly status: Run.NodeStatus
    readonly fireAt?: number | undefined
    /** The JSON Schema an outside completion must match (a deferred's). */
    readonly jsonSchema?: unknown
  }
): Effect.Effect<NodeRow> =>
  Effect.flatMap(Effect.zipRight(guard(instance), Clock.currentTimeMillis), (now) => {
    const row = newNode(instance, node, now)
    return storage(instance, stateOf(instance).store.ensureNode(stateOf(instance).owner, row)).pipe(
      Effect.flatMap(Option.match({
        onNone: () => {
          stateOf(instance).leaseLost = true
          return stop
        },
        onSome: (stored) => {
          if (stored.kind !== node.kind) {
            return failFatal(
              instance,
              new Run.NonDeterminism({ runId: instance.runId, nodeId: node.nodeId, expected: node.kind, actual: stored.kind })
            )
          }
          stateOf(instance).journal.set(stored.nodeId, stored)
          return Effect.succeed(stored)
        }
      }))
    )
  })

/**
 * The deadline `millis` after `now`, or the reason it cannot be stored: PostgreSQL keeps deadlines as
 * BIGINT milliseconds and JavaScript reads them back as numbers, so a deadline must be a safe integer.
 *
 * @internal
 */
export const deadlineAfter = (now: number, millis: number): number | string => {
  if (Number.isNaN(millis) || millis < 0) return `the duration is ${millis}ms`
  if (!Number.isFinite(millis)) return "the duration is infinite: no deadline can be stored for it"
  const deadline = now + Math.ceil(millis)
  return Number.isSafeInteger(deadline)
    ? deadline
    : `the deadline ${millis}ms from now is beyond what can be stored (${Number.MAX_SAFE_INTEGER} epoch ms)`
}
