import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Supervisor from "effect/Supervisor"
import * as Run from "../Run.js"
import { WorkflowInstance, type WorkflowInstanceShape } from "../WorkflowInstance.js"
import { textProblem } from "./json.js"
import { RunScheduler } from "./runScheduler.js"
import type { NewNode, Repair, RunStatements, StorageService } from "./storage/storage.js"
import type { NodeRow } from "./rows.js"
import type { StartGate } from "./rows.js"

/**
 * A wait a fiber of the run is blocked on: what the run is stored as if it suspends there.
 *
 * @internal
 */
export interface Wait {
  /** The wait is an approval: the run is `waiting-approval` while it holds. */
  readonly approval: boolean
  /** When a timer (or an approval's deadline) wakes the run. */
  readonly wakeAt: number | undefined
}

/**
 * One outermost durable node being worked on by a fiber (a step running, a request being written). While
 * any is busy the run does not suspend: what was started is recorded first.
 */
interface Ticket {
  readonly state: InstanceState
  busy: boolean
}

/**
 * The mutable state of one execution of a run, owned by the fiber replaying it. It never outlives that
 * fiber: a suspended run has no instance.
 *
 * @internal
 */
export class InstanceState {
  readonly journal: Map<string, NodeRow>
  nextSeq: number
  /** Durable nodes being worked on now (outermost ones: a step's effect and checkpoint, a request's write). */
  busy = 0
  /** The waits fibers of the run are blocked on now; a wait a race interrupts leaves the set. */
  readonly waits = new Set<Wait>()
  /** The fibers blocked in a wait or a halt, interrupted when the execution is released. */
  readonly blocked = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  /** Set once the execution is released: from then on no durable node starts in it. */
  released = false
  /** Opened by the release once every fiber of the run but the blocked ones has been interrupted. */
  readonly gate: Deferred.Deferred<void> = Deferred.unsafeMake<void>(FiberId.none)
  /** Bumped on every change of `busy`, `waits` or the flags, so the executor knows nothing moved. */
  version = 0
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
  /** Set when the run was resumed or forked: where its approvals find the decisions they had before. */
  repair: Repair | undefined = undefined
  /** How a checkpoint is written: the runner shares commits between its runs (`internal/storage/groupCommit.ts`). */
  writeCheckpoint: (owner: string, node: NewNode) => Effect.Effect<boolean, SqlError>
  private listener: (() => void) | undefined = undefined

  constructor(
    /** The engine's storage: what a run's approvals, policy checks and transactions go through. */
    readonly storage: StorageService,
    /** The run's own statements (the runner detaches each one from the run's fiber). */
    readonly store: RunStatements,
    readonly owner: string,
    readonly wakeSeq: number,
    nodes: ReadonlyArray<NodeRow>
  ) {
    this.writeCheckpoint = store.checkpoint
    this.journal = new Map(nodes.map((node) => [node.nodeId, node]))
    this.nextSeq = nodes.reduce((max, node) => Math.max(max, node.seq), 0) + 1
  }

  /** True when the execution must stop where it is: it ends on a fatal error, its lease or its storage is gone. */
  get halted(): boolean {
    return this.fatal !== undefined || this.leaseLost || this.storageFailure !== undefined
  }

  /**
   * Records that something moved, and wakes the executor when it has something to decide: the run halted,
   * or it waits with nothing busy (`force`: the body ended). A step starting or ending in a run that waits
   * on nothing wakes nobody, so sequential steps cost no hop to the executor.
   */
  changed(force = false): void {
    this.version++
    if (this.listener === undefined || !(force || this.halted || (this.waits.size > 0 && this.busy === 0))) return
    const listener = this.listener
    this.listener = undefined
    listener()
  }

  /** Waits for a change after `since` (a `version` read earlier: one made meanwhile is not missed). */
  changeAfter(since: number): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      if (this.version !== since) return resume(Effect.void)
      const wake = () => resume(Effect.void)
      this.listener = wake
      return Effect.sync(() => {
        if (this.listener === wake) this.listener = undefined
      })
    })
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
 * The body of an outermost durable node: while it runs, the run does not suspend. Nested nodes (a step's
 * approval gate, a review's revisions) count once, as their outermost node.
 *
 * @internal
 */
export const node = <A, E, R>(instance: WorkflowInstanceShape, effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(FiberRef.get(currentTicket), (held) => {
    const state = stateOf(instance)
    if (held !== undefined && held.state === state) return effect
    return Effect.suspend(() => {
      const ticket: Ticket = { state, busy: true }
      state.busy++
      state.changed()
      return effect.pipe(
        Effect.locally(currentTicket, ticket),
        Effect.ensuring(Effect.sync(() => idle(ticket)))
      )
    })
  })

const currentTicket: FiberRef.FiberRef<Ticket | undefined> = FiberRef.unsafeMake<Ticket | undefined>(undefined)

const idle = (ticket: Ticket) => {
  if (!ticket.busy) return
  ticket.busy = false
  ticket.state.busy--
  ticket.state.changed()
}

/**
 * Blocks the calling fiber for good: it is never resumed, only interrupted when the execution is released.
 * Neither a failure nor an interrupt of its own, so no handler of the body (`catchAllCause`, `exit`,
 * `either`, `sandbox`, `tapErrorCause`) sees it. With a `wait`, the run suspends on it once nothing else
 * of the run is busy; without, the execution halts (its flags say why).
 */
const block = (instance: WorkflowInstanceShape, wait: Wait | undefined): Effect.Effect<never> =>
  Effect.flatMap(FiberRef.get(currentTicket), (ticket) =>
    Effect.withFiberRuntime<never>((fiber) => {
      const state = stateOf(instance)
      if (ticket !== undefined && ticket.state === state) idle(ticket)
      if (wait !== undefined) state.waits.add(wait)
      state.blocked.add(fiber)
      state.changed()
      const leave = Effect.sync(() => {
        state.blocked.delete(fiber)
        if (wait !== undefined && state.waits.delete(wait)) state.changed()
      })
      // Interrupted by a release, a blocked fiber ends only once every other fiber of the run has been
      // interrupted (`release`): whoever awaits it (`Fiber.await`, `Fiber.join`) is gone before its exit.
      return Effect.interruptible(Effect.async<never>(() =>
        Effect.suspend(() => state.released ? Effect.zipRight(leave, Deferred.await(state.gate)) : leave)
      ))
    }))

/**
 * Stops this fiber of the execution for good: its flags (`fatal`, `leaseLost`, `storageFailure`) tell the
 * executor why, and it releases the execution at once.
 *
 * @internal
 */
export const halt = (instance: WorkflowInstanceShape): Effect.Effect<never> => block(instance, undefined)

/**
 * Stops at once if this execution must not go on here: it was released, it is ending on a fatal error,
 * its lease is gone or storage failed. Every durable node passes here before it reads, runs or writes
 * anything.
 *
 * @internal
 */
export const guard = (instance: WorkflowInstanceShape): Effect.Effect<void> =>
  Effect.suspend(() => {
    const state = stateOf(instance)
    if (!state.leaseLost && !state.leaseHeld()) state.leaseLost = true
    return state.released || state.halted ? halt(instance) : Effect.void
  })

/** @internal */
export const failFatal = (instance: WorkflowInstanceShape, error: Run.RunFatal): Effect.Effect<never> =>
  Effect.suspend(() => {
    stateOf(instance).fatal ??= error
    return halt(instance)
  })

/**
 * The run waits here: the fiber blocks (see `block`), and the run is stored suspended once every fiber
 * of it is blocked or idle, so every node forked beside this one is recorded first.
 *
 * @internal
 */
export const suspend = (
  instance: WorkflowInstanceShape,
  options: { readonly wakeAt?: number | undefined; readonly approval?: boolean | undefined } = {}
): Effect.Effect<never> => block(instance, { approval: options.approval === true, wakeAt: options.wakeAt })

/**
 * How an execution ended: the body's own exit, or released by the engine, suspended on its waits or
 * halted (the state's flags say why).
 *
 * @internal
 */
export type Outcome<A, E> =
  | { readonly _tag: "Exit"; readonly exit: Exit.Exit<A, E> }
  | { readonly _tag: "Suspended"; readonly approval: boolean; readonly wakeAt: number | undefined }
  | { readonly _tag: "Halted" }

// One turn of both queues: fibers the Effect scheduler queued run first (`yieldNow` queues behind them),
// then I/O that already arrived (`setImmediate` runs after the event loop's poll phase).
const turn = Effect.zipRight(
  Effect.yieldNow(),
  Effect.async<void>((resume) => {
    const handle = setImmediate(() => resume(Effect.void))
    return Effect.sync(() => clearImmediate(handle))
  })
)

/**
 * Runs a workflow body to its outcome. The body runs in a fiber of its own; the executor releases it
 * (interrupts it from outside, so its finalizers run and none of its error handlers does) when it halts,
 * or when it waits and nothing of it is busy any more: every durable node forked in the run is recorded
 * before the run is stored suspended.
 *
 * @internal
 */
export const execute = <A, E, R>(state: InstanceState, body: Effect.Effect<A, E, R>): Effect.Effect<Outcome<A, E>, never, R> =>
  Effect.flatMap(Effect.zip(Supervisor.track, FiberRef.get(FiberRef.currentScheduler)), ([fibers, base]) => {
    // The body's fibers, and every fiber they fork, are resumed through it: it tells when none of them
    // has anything left to run.
    const scheduler = new RunScheduler(() => state.changed(), base)
    return Effect.acquireUseRelease(
      Effect.supervised(Effect.withScheduler(Effect.fork(Effect.interruptible(body)), scheduler), fibers),
      (fiber) =>
        Effect.gen(function*() {
          fiber.addObserver(() => state.changed(true))
          while (true) {
            const seen = state.version
            const done = fiber.unsafePoll()
            if (done !== null) return { _tag: "Exit", exit: done } as Outcome<A, E>
            if (state.halted) return yield* release(state, fiber, fibers, { _tag: "Halted" })
            // Suspended only once no fiber of the run can move on its own: a race just won may still be
            // interrupting its loser (whose wait then leaves `waits`), a fiber just forked may not have
            // reached its node yet. Until then the run would be stored waiting on a wait nobody needs.
            if (state.waits.size > 0 && state.busy === 0 && scheduler.pending === 0) {
              let approval = false
              let wakeAt: number | undefined = undefined
              for (const wait of state.waits) {
                approval ||= wait.approval
                if (wait.wakeAt !== undefined) wakeAt = wakeAt === undefined ? wait.wakeAt : Math.min(wakeAt, wait.wakeAt)
              }
              return yield* release(state, fiber, fibers, { _tag: "Suspended", approval, wakeAt })
            }
            yield* state.changeAfter(seen)
          }
        }),
      // Interrupted from outside (a cancel, a shutdown): the body is ended the same way.
      (fiber) => fiber.unsafePoll() === null ? release(state, fiber, fibers, { _tag: "Halted" }) : Effect.void
    )
  })

/**
 * Ends the execution. Every fiber of the run that is not blocked is interrupted first, directly (not
 * through its parent, which would let a blocked child end first and hand its exit to a fiber awaiting
 * it); only then are the blocked fibers let go, and the body is awaited with its finalizers.
 */
const release = <A, E>(
  state: InstanceState,
  fiber: Fiber.RuntimeFiber<A, E>,
  fibers: Supervisor.Supervisor<Array<Fiber.RuntimeFiber<any, any>>>,
  outcome: Outcome<A, E>
): Effect.Effect<Outcome<A, E>> =>
  Effect.gen(function*() {
    state.released = true
    const live = yield* fibers.value
    const id = yield* Effect.fiberId
    for (const other of [fiber, ...live]) {
      if (!state.blocked.has(other)) yield* Fiber.interruptAsFork(other, id)
    }
    yield* turn
    yield* turn
    yield* Deferred.succeed(state.gate, void 0)
    // Fibers of the run that are not the body's descendants (forked as daemons) end too.
    for (const other of live) yield* Fiber.interruptAsFork(other, id)
    yield* Fiber.interrupt(fiber)
    return outcome
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
      return halt(instance)
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
        return halt(instance)
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
          return halt(instance)
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
