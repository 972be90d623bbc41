/**
 * The runner: a Layer-scoped fiber scheduler. It claims runnable runs from SQL under a lease, forks a
 * fiber per run under bounded concurrency, and replays each run from its journal. When a run waits on
 * something that has not happened (a deferred, a timer, an approval) its fiber ends and the run is
 * stored as suspended: no fiber, no memory and no connection is held for it.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import * as InternalMetrics from "./internal/metrics.js"
import * as Instance from "./internal/instance.js"
import * as Leases from "./internal/runner/leases.js"
import * as Settle from "./internal/runner/settle.js"
import * as Statements from "./internal/runner/statements.js"
import * as Storage from "./internal/storage.js"
import type { NodeRow } from "./internal/rows.js"
import type { ClaimedRun } from "./internal/storage.js"
import * as Tracing from "./internal/tracing.js"
import type * as Run from "./Run.js"
import { WorkflowRegistry } from "./WorkflowRegistry.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface RunnerOptions {
  /** How many runs this runner executes at once. Default 16. */
  readonly concurrency?: number | undefined
  /**
   * How often to look for work no in-process signal announced (runs woken by another process). On
   * PostgreSQL, `LISTEN/NOTIFY` announces those at once and polling only catches what a lost notification
   * missed. Default 1 second. `Duration.infinity` turns polling off (a single-process setup, the test kit).
   */
  readonly pollInterval?: Duration.DurationInput | undefined
  /**
   * How long a claim lasts without renewal; a runner that dies loses its runs after this. Default 30 seconds;
   * at least 1 second (`minLeaseDuration`), or the runner refuses to start (`InvalidRunnerOptions`).
   */
  readonly leaseDuration?: Duration.DurationInput | undefined
  /**
   * How often held leases are renewed. Default a third of `leaseDuration`; at most half of it, so that a
   * renewal that fails is tried again before the lease runs out (`InvalidRunnerOptions` otherwise).
   */
  readonly leaseRenewInterval?: Duration.DurationInput | undefined
  /** This runner's identity in the `lease_owner` column. Default host, pid and a random suffix. */
  readonly runnerId?: string | undefined
  /**
   * On PostgreSQL, how often the runner checks that its `LISTEN` connection still delivers (it notifies
   * itself and waits for the echo), and re-subscribes when it does not. Default 5 seconds.
   */
  readonly listenHeartbeat?: Duration.DurationInput | undefined
  /**
   * The most a graceful shutdown waits for each thing it gives back (the runs it executes, its leases,
   * its `LISTEN` connection) when the database does not answer. What could not be given back is taken
   * over once its lease expires. Default 5 seconds.
   */
  readonly shutdownTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Runner extends Context.Tag("@gatehouse/engine/Runner")<Runner, {
  readonly runnerId: string
  /** Ids of the runs this runner is executing now. */
  readonly active: Effect.Effect<ReadonlyArray<Run.RunId>>
  /** True when the runner has nothing in flight and waits for work. */
  readonly idle: Effect.Effect<boolean>
  /** Look for work now. */
  readonly poke: Effect.Effect<void>
  /**
   * Captures a wait for the next change of state this runner (or the client beside it) makes: a run
   * started, suspended, finished, or the runner went idle. Capture, check, then wait: no change is missed.
   */
  readonly changes: Effect.Effect<Effect.Effect<void>>
}>() {}

/**
 * The shortest lease a runner accepts: below it, the time a renewal takes on a loaded machine is a large
 * part of the lease.
 *
 * @since 0.1.0
 * @category models
 */
export const minLeaseDuration: Duration.Duration = Duration.seconds(1)

/**
 * Runner options with which a live runner could not keep its leases (a lease shorter than
 * `minLeaseDuration`, a renew interval not at most half the lease) or that are not usable at all. Nothing
 * is started.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRunnerOptions extends Schema.TaggedError<InvalidRunnerOptions>(
  "@gatehouse/engine/Runner/InvalidRunnerOptions"
)("InvalidRunnerOptions", {
  field: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `Invalid runner option ${this.field}: ${this.reason}`
  }
}

const decodeDuration = (field: string, input: Duration.DurationInput) =>
  Effect.try({
    try: () => Duration.decode(input),
    catch: () => new InvalidRunnerOptions({ field, reason: "not a duration" })
  })

/**
 * The lease and renew interval a runner would use with these options, or `InvalidRunnerOptions` naming the
 * field when a live runner could not keep its leases with them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const leaseTiming = (
  options: Pick<RunnerOptions, "leaseDuration" | "leaseRenewInterval">
): Effect.Effect<{ readonly lease: Duration.Duration; readonly renewEvery: Duration.Duration }, InvalidRunnerOptions> =>
  Effect.gen(function*() {
    const lease = yield* decodeDuration("leaseDuration", options.leaseDuration ?? "30 seconds")
    if (!Duration.isFinite(lease) || Duration.lessThan(lease, minLeaseDuration)) {
      return yield* new InvalidRunnerOptions({
        field: "leaseDuration",
        reason: `must be finite and at least ${Duration.format(minLeaseDuration)}, got ${Duration.format(lease)}`
      })
    }
    const leaseMillis = Duration.toMillis(lease)
    if (options.leaseRenewInterval === undefined) {
      return { lease, renewEvery: Duration.millis(Math.floor(leaseMillis / 3)) }
    }
    const renewEvery = yield* decodeDuration("leaseRenewInterval", options.leaseRenewInterval)
    const renewMillis = Duration.toMillis(renewEvery)
    if (!(renewMillis > 0) || renewMillis * 2 > leaseMillis) {
      return yield* new InvalidRunnerOptions({
        field: "leaseRenewInterval",
        reason: `must be above zero and at most half of leaseDuration (${Duration.format(lease)}), got ${
          Duration.format(renewEvery)
        }`
      })
    }
    return { lease, renewEvery }
  })

/**
 * For tests only: a runner built where this is true never renews its leases, as one that stalled would
 * (past its lease, other runners take its runs over).
 *
 * @since 0.1.0
 * @category testing
 */
export class RenewalsStalled extends Context.Reference<RenewalsStalled>()(
  "@gatehouse/engine/Runner/RenewalsStalled",
  { defaultValue: () => false }
) {}

/**
 * The runners' metrics, to read or export.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics: {
  /** Runs claimed from a runner whose lease had expired. */
  readonly takeovers: Metric.Metric.Counter<number>
  /** Lease renewals that failed or got no answer within their bound (each is also logged). */
  readonly leaseRenewalFailures: Metric.Metric.Counter<number>
} = {
  takeovers: InternalMetrics.runnerTakeovers,
  leaseRenewalFailures: InternalMetrics.leaseRenewalFailures
}


/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("Runner.make")(function*(options: RunnerOptions = {}) {
  const storage = yield* Storage.Storage
  const { signals } = storage
  // The statements on runs, their journals and their leases: what this runner writes.
  const store: Storage.RunStatements = { ...storage.runs, ...storage.journal, ...storage.leases }
  const registry = yield* WorkflowRegistry
  const runnerId = options.runnerId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
  const concurrency = Math.max(1, options.concurrency ?? 16)
  const pollInterval = Duration.decode(options.pollInterval ?? "1 second")
  const { lease, renewEvery } = yield* leaseTiming(options)
  const leaseMillis = Duration.toMillis(lease)
  const stalled = yield* RenewalsStalled
  const shutdownTimeout = Duration.decode(options.shutdownTimeout ?? "5 seconds")
  const databaseClock = storage.databaseClock
  // Leases are measured on the database's clock on PostgreSQL (see `leaseNow` in the store): renewals are
  // then paced by real time, never by a `TestClock` a test moves. On SQLite they follow Effect's `Clock`.
  const liveClock = Clock.make()
  const leaseClock = databaseClock ? liveClock : yield* Effect.clock
  let stopping = false

  const { held, heldUntil, leaseHeld } = Leases.makeHeld(leaseMillis, databaseClock)
  // Woken when the runner goes from holding nothing to holding a run (the renewals start again).
  const holding = yield* Effect.makeLatch(false)

  // Bounds a statement by a wall-clock time, never interrupting it (see `internal/runner/leases.ts`).
  const bounded = Leases.makeBounded(liveClock)

  // Registered first, so it runs last: after every run fiber has stopped, give back what is still held.
  yield* Effect.addFinalizer(() =>
    Clock.currentTimeMillis.pipe(
      Effect.flatMap((now) => bounded(store.releaseAll(runnerId, now), shutdownTimeout, "release")),
      Effect.catchAllCause((cause) => Effect.logWarning("Gatehouse runner could not release its leases", cause))
    )
  )

  // Shared commits of the runs' checkpoints, ends and suspensions, and the statements of each run, detached
  // from its fiber (`internal/runner/statements.ts`). Made before the runs' FiberMap, so they stop after it.
  const { ends, runStore, suspensions, writeCheckpoint } = yield* Statements.make(store, concurrency)
  const fibers = yield* FiberMap.make<string>()
  // Runs before the FiberMap interrupts the runs: from now on, giving a run back is bounded by
  // `shutdownTimeout` and never retried.
  yield* Effect.addFinalizer(() => Effect.sync(() => stopping = true))
  // Kept by hand rather than read from the FiberMap, which forgets a fiber only after it has ended.
  const inFlight = new Set<string>()
  let idle = false

  // A run that ended here hands its row to the waiters on its result in this process.
  const finish = (options: Storage.RunEnd) =>
    Effect.tap(ends.write(options), Option.match({ onNone: () => {}, onSome: signals.ended.publish }))

  // How a run's execution ends in storage, and a takeover's trace (`internal/runner/settle.ts`).
  const { recordTakeover, settleRun } = Settle.make({ registry, store, storage, runnerId, finish, suspensions })

  const execute = (claim: ClaimedRun, loaded: ReadonlyArray<NodeRow> | undefined) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        if (claim.takenOverFrom !== undefined) yield* recordTakeover(claim, claim.takenOverFrom)
        const registration = registry.get(claim.workflow)
        if (Option.isNone(registration)) {
          return yield* store.releaseRun(claim.id, runnerId, yield* Clock.currentTimeMillis)
        }
        const journal = loaded ?? (yield* store.loadJournal(claim.id))
        const state = new Instance.InstanceState(storage, runStore, runnerId, claim.wakeSeq, journal)
        state.startGate = claim.startGate
        state.repair = claim.repair
        state.writeCheckpoint = writeCheckpoint
        state.leaseHeld = leaseHeldOf(claim.id)
        const instance = Instance.make({
          runId: claim.id,
          workflow: claim.workflow,
          startedBy: claim.startedBy,
          claims: claim.claims,
          state
        })
        const outcome = yield* restore(Instance.execute(state, registration.value.execute(claim.payload, instance))).pipe(
          Effect.exit,
          Effect.map((exit): Instance.Outcome<unknown, unknown> =>
            Exit.isSuccess(exit) ? exit.value : { _tag: "Exit", exit }
          )
        )
        // A settle that takes longer than a lease is pointless (the run is taken over), and a shutdown
        // must not wait on a network that does not answer.
        yield* Effect.suspend(() =>
          bounded(settleRun(claim, state, outcome), stopping ? shutdownTimeout : lease, "settle")
        )
      }).pipe(
        // One trace per execution, linked to the decision or completion that woke it.
        Tracing.span("gatehouse.run", { runId: claim.id, workflow: claim.workflow, claims: claim.claims }, {
          root: true,
          links: Tracing.linksOf(claim.link)
        }),
        Effect.catchAllCause((cause) =>
          Effect.logWarning(`Gatehouse runner failed to settle run ${claim.id}`, cause).pipe(
            Effect.zipRight(Clock.currentTimeMillis),
            Effect.flatMap((now) =>
              bounded(store.releaseRun(claim.id, runnerId, now), stopping ? shutdownTimeout : lease, "release")
            ),
            // The database may be restarting: keep trying for as long as the lease lasts (not while the
            // runner stops). After that the run is no longer renewed, its lease expires, and any runner
            // (this one included) takes it over.
            Effect.retry({
              schedule: Schedule.spaced("250 millis").pipe(Schedule.upTo(lease)),
              while: () => !stopping
            }),
            Effect.ignore
          )
        ),
        Effect.ensuring(Effect.suspend(() => {
          inFlight.delete(claim.id)
          return Effect.zipRight(signals.changes.notify, signals.work.notify)
        })),
        Effect.annotateLogs({ runId: claim.id, workflow: claim.workflow, runner: runnerId })
      )
    )

  const claimOnce = Effect.gen(function*() {
    const free = concurrency - inFlight.size
    if (free <= 0) return false
    const now = yield* Clock.currentTimeMillis
    const sentAt = Leases.monotonicMillis()
    const claimed = yield* store.claim({
      owner: runnerId,
      names: registry.names(),
      now,
      leaseMillis,
      limit: free,
      executing: Array.from(inFlight)
    })
    const entries = claimed.map((claim) => {
      const entry: Leases.Held = { deadline: heldUntil(sentAt), stopped: false }
      inFlight.add(claim.id)
      held.set(claim.id, entry)
      return entry
    })
    if (claimed.length > 0) yield* holding.open
    // The journals of every run claimed, in one query; should it fail, each run loads its own.
    const journals = yield* store.loadJournals(claimed.map((claim) => claim.id)).pipe(
      Effect.catchAllCause(() => Effect.succeed(new Map<string, ReadonlyArray<NodeRow>>()))
    )
    for (const [index, claim] of claimed.entries()) {
      const entry = entries[index]
      yield* FiberMap.run(
        fibers,
        claim.id,
        Effect.ensuring(
          execute(claim, journals.get(claim.id)),
          Effect.sync(() => held.get(claim.id) === entry && held.delete(claim.id))
        )
      )
    }
    return claimed.length === free
  })

  // After a failed claim (the database may be restarting), try again soon rather than after a long poll.
  const retrySoon = Duration.min(pollInterval, Duration.seconds(1))

  /**
   * Waits for a signal, the poll interval, or the earliest timer (`wakeAt`, absolute). The clock is read,
   * the runner flagged idle and the timer registered in one step, with no I/O in between: a `TestClock`
   * jump made once `settle` saw the runner idle always finds the timer, and a timer is never set from a
   * reading of the clock that a jump has since made stale.
   */
  const waitForWork = (wake: Effect.Effect<void>, wakeAt: number | undefined, interval: Duration.Duration) =>
    Effect.race(
      wake,
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        idle = inFlight.size === 0
        const sleepFor = wakeAt === undefined
          ? interval
          : Duration.min(interval, Duration.millis(Math.max(0, wakeAt - now)))
        return Effect.zipRight(idle ? signals.changes.notify : Effect.void, Effect.sleep(sleepFor))
      })
    )

  const loop = Effect.gen(function*() {
    while (true) {
      const wake = yield* signals.work.capture
      let failed = false
      const more = yield* claimOnce.pipe(
        Effect.catchAllCause((cause) => {
          failed = true
          return Effect.as(Effect.logWarning("Gatehouse runner could not claim runs", cause), false)
        })
      )
      if (more) continue
      const wakeAt = failed ? Option.none() : yield* Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => store.nextWakeAt(registry.names(), { now, executing: Array.from(inFlight) })),
        Effect.catchAllCause(() => {
          failed = true
          return Effect.succeed(Option.none<number>())
        })
      )
      yield* waitForWork(wake, Option.getOrUndefined(wakeAt), failed ? retrySoon : pollInterval)
      idle = false
    }
  })

  const renewLoop = yield* Leases.renewals({
    storage,
    store,
    runnerId,
    leaseMillis,
    renewEvery,
    shutdownTimeout,
    stalled,
    databaseClock,
    leaseClock,
    held,
    heldUntil,
    holding,
    bounded,
    isStopping: () => stopping,
    stopRun: (runId, entry) => stopRun(runId, entry)
  })


  /**
   * Stops a run this runner executes (canceled, or a renewal found its lease gone): nothing more of it
   * starts, its fiber is interrupted, and once that fiber has ended its lease is given back, if settling
   * it did not (a run canceled as it ended or suspended writes nothing, its row is no longer running).
   * A cancel waits for that release.
   */
  const stopRun = (runId: string, entry: Leases.Held) =>
    Effect.gen(function*() {
      entry.stopped = true
      yield* FiberMap.remove(fibers, runId)
      const now = yield* Clock.currentTimeMillis
      yield* bounded(store.releaseRun(runId, runnerId, now), stopping ? shutdownTimeout : lease, "release")
      yield* signals.changes.notify
    }).pipe(
      Effect.catchAllCause((cause) => Effect.logWarning(`Gatehouse runner could not give back run ${runId}`, cause)),
      Effect.annotateLogs({ runId, runner: runnerId })
    )

  const leaseHeldOf = (runId: string): () => boolean => {
    const entry = held.get(runId)
    return entry === undefined ? () => false : leaseHeld(entry)
  }


  const canceled = yield* PubSub.subscribe(signals.canceled)
  const cancelLoop = Effect.forever(
    Effect.flatMap(Queue.take(canceled), (runId) => {
      const entry = held.get(runId)
      return entry === undefined || entry.stopped ? Effect.void : Effect.asVoid(Effect.forkDaemon(stopRun(runId, entry)))
    })
  )

  yield* Effect.forkScoped(loop)
  yield* Effect.forkScoped(renewLoop)
  yield* Effect.forkScoped(cancelLoop)
  // On PostgreSQL: a start, a completion, a decision or a cancel in any process wakes this runner at once.
  yield* Effect.forkScoped(storage.listen({
    runnerId,
    heartbeat: Duration.decode(options.listenHeartbeat ?? "5 seconds"),
    onMessage: (message) =>
      message._tag === "Cancel"
        ? Effect.zipRight(PubSub.publish(signals.canceled, message.runId), signals.work.notify)
        : signals.work.notify,
    onSubscribed: signals.work.notify
  }))

  return Runner.of({
    runnerId,
    active: Effect.sync(() => Array.from(inFlight) as Array<Run.RunId>),
    idle: Effect.sync(() => idle),
    poke: signals.work.notify,
    changes: signals.changes.capture
  })
})

/**
 * A runner for the workflows registered with the `WorkflowRegistry` in context.
 *
 * @example
 * ```ts
 * import { Gatehouse, Runner } from "@gatehouse/engine"
 *
 * const RunnerLive = Runner.layer({ concurrency: 32, pollInterval: "500 millis", leaseDuration: "30 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: RunnerOptions = {}
): Layer.Layer<Runner, InvalidRunnerOptions, SqlClient.SqlClient | WorkflowRegistry> =>
  Layer.scoped(Runner, make(options)).pipe(Layer.provide(Storage.layer))
