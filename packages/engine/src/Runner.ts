/**
 * The runner: a Layer-scoped fiber scheduler. It claims runnable runs from SQL under a lease, forks a
 * fiber per run under bounded concurrency, and replays each run from its journal. When a run waits on
 * something that has not happened (a deferred, a timer, an approval) its fiber ends and the run is
 * stored as suspended: no fiber, no memory and no connection is held for it.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberMap from "effect/FiberMap"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as PubSub from "effect/PubSub"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { hostname } from "node:os"
import { describeCause } from "./internal/codec.js"
import { appendEvent } from "./internal/log.js"
import * as InternalMetrics from "./internal/metrics.js"
import * as GroupCommit from "./internal/groupCommit.js"
import * as Instance from "./internal/instance.js"
import * as PgWakeups from "./internal/pgWakeups.js"
import * as Storage from "./internal/storage.js"
import { type ClaimedRun, makeStore, type NewNode, type NodeRow, type Store } from "./internal/store.js"
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
  /** How long a claim lasts without renewal; a runner that dies loses its runs after this. Default 30 seconds. */
  readonly leaseDuration?: Duration.DurationInput | undefined
  /** How often held leases are renewed. Default a third of `leaseDuration`. */
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
 * The runners' metrics, to read or export.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics: {
  /** Runs claimed from a runner whose lease had expired. */
  readonly takeovers: Metric.Metric.Counter<number>
} = {
  takeovers: InternalMetrics.runnerTakeovers
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = Effect.fn("Runner.make")(function*(options: RunnerOptions = {}) {
  const { runs: store, signals } = yield* Storage.Storage
  const engine = yield* WorkflowRegistry
  const runnerId = options.runnerId ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
  const concurrency = Math.max(1, options.concurrency ?? 16)
  const pollInterval = Duration.decode(options.pollInterval ?? "1 second")
  const lease = Duration.decode(options.leaseDuration ?? "30 seconds")
  const leaseMillis = Duration.toMillis(lease)
  const renewEvery = options.leaseRenewInterval === undefined
    ? Duration.millis(Math.max(1, Math.floor(leaseMillis / 3)))
    : Duration.decode(options.leaseRenewInterval)
  const shutdownTimeout = Duration.decode(options.shutdownTimeout ?? "5 seconds")
  const pg = yield* Effect.serviceOption(PgClient.PgClient)
  // Leases are measured on the database's clock on PostgreSQL (see `leaseNow` in the store): renewals are
  // then paced by real time, never by a `TestClock` a test moves. On SQLite they follow Effect's `Clock`.
  const liveClock = Clock.make()
  const leaseClock = Option.isSome(pg) ? liveClock : yield* Effect.clock
  let stopping = false

  /**
   * Bounds a statement by a wall-clock time, whatever the network does. The statement runs in a fiber of
   * its own and is abandoned at the bound (its cancellation, itself a round trip that may never come
   * back, finishes in the background). The caller waits for whichever comes first; in an uninterruptible
   * region (settling a run, a finalizer) that wait still ends at the bound, and an interruption already
   * pending on the caller (a process stopping on SIGTERM) does not cut the statement short. The statement
   * keeps the caller's `Clock`, so its times stay those of the workflow.
   */
  const bounded = <A, E, R>(effect: Effect.Effect<A, E, R>, bound: Duration.Duration, what: string) =>
    Effect.clockWith((clock) =>
      Effect.gen(function*() {
        const done = yield* Deferred.make<A, E | Cause.TimeoutException>()
        const statement = yield* Effect.forkDaemon(
          Effect.interruptible(Effect.intoDeferred(Effect.withClock(effect, clock), done))
        )
        const timer = yield* Effect.forkDaemon(
          Effect.sleep(bound).pipe(
            Effect.zipRight(
              Deferred.fail(done, new Cause.TimeoutException(`${what}: no answer in ${Duration.format(bound)}`))
            ),
            Effect.withClock(liveClock)
          )
        )
        return yield* Deferred.await(done).pipe(
          Effect.ensuring(Effect.zipRight(Fiber.interruptFork(timer), Fiber.interruptFork(statement)))
        )
      })
    )

  // Registered first, so it runs last: after every run fiber has stopped, give back what is still held.
  yield* Effect.addFinalizer(() =>
    Clock.currentTimeMillis.pipe(
      Effect.flatMap((now) => bounded(store.releaseAll(runnerId, now), shutdownTimeout, "release")),
      Effect.catchAllCause((cause) => Effect.logWarning("Gatehouse runner could not release its leases", cause))
    )
  )

  // Shared commits (`internal/groupCommit.ts`) of the runs' checkpoints and ends. Made before the runs'
  // FiberMap, so they stop after every run fiber has.
  const checkpoints = yield* GroupCommit.make({
    writeOne: ({ node, owner }: { readonly owner: string; readonly node: NewNode }) => store.checkpoint(owner, node),
    writeMany: store.checkpointMany,
    maxBatch: Math.max(16, concurrency)
  })
  const ends = yield* GroupCommit.make({
    writeOne: store.finishRun,
    writeMany: store.finishRuns,
    maxBatch: Math.max(16, concurrency)
  })
  const suspensions = yield* GroupCommit.make({
    writeOne: store.suspendRun,
    writeMany: store.suspendRuns,
    maxBatch: Math.max(16, concurrency)
  })
  const writeCheckpoint = (owner: string, node: NewNode) => checkpoints.write({ owner, node })
  const fibers = yield* FiberMap.make<string>()
  // Runs before the FiberMap interrupts the runs: from now on, giving a run back is bounded by
  // `shutdownTimeout` and never retried.
  yield* Effect.addFinalizer(() => Effect.sync(() => stopping = true))
  // Kept by hand rather than read from the FiberMap, which forgets a fiber only after it has ended.
  const inFlight = new Set<string>()
  let idle = false

  // A run that ended here hands its row to the waiters on its result in this process.
  const finish = (options: Parameters<Store["finishRun"]>[0]) =>
    Effect.tap(ends.write(options), Option.match({ onNone: () => {}, onSome: signals.ended.publish }))

  const settleRun = (
    claim: ClaimedRun,
    state: Instance.InstanceState,
    outcome: Instance.Outcome<unknown, unknown>
  ) =>
    Effect.gen(function*() {
      const registration = engine.get(claim.workflow)
      const now = yield* Clock.currentTimeMillis
      if (state.fatal !== undefined && Option.isSome(registration)) {
        const result = yield* registration.value.encodeExit(Exit.fail(state.fatal))
        yield* finish({
          runId: claim.id,
          owner: runnerId,
          status: "failed",
          result,
          error: state.fatal.message,
          now
        })
        return
      }
      if (state.leaseLost || state.storageFailure !== undefined) {
        if (state.storageFailure !== undefined) {
          yield* Effect.logWarning("Gatehouse run stopped on a storage failure; it will be replayed", state.storageFailure)
        }
        yield* store.releaseRun(claim.id, runnerId, now)
        return
      }
      // Released while every fiber of it waits (`Instance.execute`): the body never saw the suspension.
      if (outcome._tag === "Suspended") {
        yield* suspensions.write({
          runId: claim.id,
          owner: runnerId,
          wakeSeq: claim.wakeSeq,
          wakeAt: outcome.wakeAt,
          status: outcome.approval ? "waiting-approval" : "suspended",
          now
        })
        return
      }
      // Halted without a flag, or interrupted from outside (a shutdown): given back, replayed later.
      if (outcome._tag === "Halted" || (Exit.isFailure(outcome.exit) && Cause.isInterruptedOnly(outcome.exit.cause))) {
        yield* store.releaseRun(claim.id, runnerId, now)
        return
      }
      const exit = outcome.exit
      if (Option.isNone(registration)) return yield* store.releaseRun(claim.id, runnerId, now)
      const result = yield* registration.value.encodeExit(exit)
      yield* finish({
        runId: claim.id,
        owner: runnerId,
        status: Exit.isSuccess(exit) ? "completed" : "failed",
        result,
        error: Exit.isSuccess(exit) ? undefined : describeCause(exit.cause),
        now
      })
    })

  // A takeover is the trace of a runner that died or stalled past its lease: counted, logged and kept as
  // an event in the run's history. Never worth failing the run over.
  const recordTakeover = (claim: ClaimedRun, from: string) =>
    Effect.gen(function*() {
      yield* Metric.increment(InternalMetrics.runnerTakeovers)
      yield* Effect.logInfo(`Gatehouse runner took over run ${claim.id} from ${from}, whose lease had expired`)
      yield* appendEvent(store.sql, {
        runId: claim.id,
        type: "run.taken-over",
        actor: runnerId,
        data: { from, by: runnerId, claims: claim.claims },
        now: yield* Clock.currentTimeMillis
      })
    }).pipe(Effect.catchAllCause((cause) => Effect.logWarning("Gatehouse runner could not record a takeover", cause)))

  const execute = (claim: ClaimedRun, loaded: ReadonlyArray<NodeRow> | undefined) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        if (claim.takenOverFrom !== undefined) yield* recordTakeover(claim, claim.takenOverFrom)
        const registration = engine.get(claim.workflow)
        if (Option.isNone(registration)) {
          return yield* store.releaseRun(claim.id, runnerId, yield* Clock.currentTimeMillis)
        }
        const journal = loaded ?? (yield* store.loadJournal(claim.id))
        const state = new Instance.InstanceState(store, runnerId, claim.wakeSeq, journal)
        state.startGate = claim.startGate
        state.writeCheckpoint = writeCheckpoint
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
    const claimed = yield* store.claim({
      owner: runnerId,
      names: engine.names(),
      now,
      leaseMillis,
      limit: free,
      executing: Array.from(inFlight)
    })
    for (const claim of claimed) inFlight.add(claim.id)
    // The journals of every run claimed, in one query; should it fail, each run loads its own.
    const journals = yield* store.loadJournals(claimed.map((claim) => claim.id)).pipe(
      Effect.catchAllCause(() => Effect.succeed(new Map<string, ReadonlyArray<NodeRow>>()))
    )
    for (const claim of claimed) yield* FiberMap.run(fibers, claim.id, execute(claim, journals.get(claim.id)))
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
        Effect.flatMap((now) => store.nextWakeAt(engine.names(), { now, executing: Array.from(inFlight) })),
        Effect.catchAllCause(() => {
          failed = true
          return Effect.succeed(Option.none<number>())
        })
      )
      yield* waitForWork(wake, Option.getOrUndefined(wakeAt), failed ? retrySoon : pollInterval)
      idle = false
    }
  })

  /**
   * On PostgreSQL, renewals go over a connection of their own, outside the pool the runs' steps draw
   * from: a runner whose steps hold every pooled connection (long transactions, a slow database) still
   * renews on time, so a live runner that is merely slow keeps its leases. The connection is opened on
   * first use and opened again after a failure; meanwhile renewals fall back to the pool.
   */
  let leaseConnection: { readonly store: Store; readonly scope: Scope.CloseableScope } | undefined
  const dropLeaseConnection = Effect.suspend(() => {
    const held = leaseConnection
    leaseConnection = undefined
    return held === undefined ? Effect.void : bounded(Scope.close(held.scope, Exit.void), shutdownTimeout, "close")
  }).pipe(Effect.ignore)
  yield* Effect.addFinalizer(() => dropLeaseConnection)
  const leaseStore: Effect.Effect<Store> = Effect.suspend(() => {
    if (leaseConnection !== undefined || Option.isNone(pg)) return Effect.succeed(leaseConnection?.store ?? store)
    const config = pg.value.config
    return Effect.gen(function*() {
      const scope = yield* Scope.make()
      const client = yield* PgClient.make({ ...config, maxConnections: 1, minConnections: undefined }).pipe(
        Scope.extend(scope),
        Effect.provide(Reactivity.layer),
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
      // A late opening (abandoned at its bound) must not replace one opened since.
      if (leaseConnection !== undefined || stopping) {
        yield* Scope.close(scope, Exit.void)
        return leaseConnection?.store ?? store
      }
      leaseConnection = { store: makeStore(client), scope }
      return leaseConnection.store
    }).pipe(
      (effect) => bounded(effect, renewEvery, "lease connection"),
      Effect.catchAllCause((cause) =>
        Effect.as(Effect.logDebug("Gatehouse runner could not open its lease connection", cause), store)
      )
    )
  })

  const renewLoop = Effect.gen(function*() {
    while (true) {
      if (inFlight.size === 0) {
        // Nothing held: wait for work instead of ticking, so long waits cost nothing (and `TestClock`
        // jumps of days do not replay thousands of renewals).
        yield* (yield* signals.work.capture)
        continue
      }
      yield* Effect.sleep(renewEvery)
      const now = yield* Clock.currentTimeMillis
      const renewing = yield* leaseStore
      // A renewal stuck longer than its interval is abandoned (and its connection replaced): the next one
      // starts on time. A late renewal loses nothing: it extends the lease of every run still held.
      yield* bounded(
        renewing.renewLeases({ owner: runnerId, runIds: Array.from(inFlight), now, leaseMillis }),
        renewEvery,
        "renew"
      ).pipe(
        Effect.catchAllCause((cause) =>
          Effect.zipRight(
            Effect.logWarning("Gatehouse runner could not renew its leases", cause),
            renewing === store ? Effect.void : dropLeaseConnection
          )
        )
      )
    }
  }).pipe(Effect.withClock(leaseClock))

  const canceled = yield* PubSub.subscribe(signals.canceled)
  const cancelLoop = Effect.forever(
    Effect.flatMap(Queue.take(canceled), (runId) => FiberMap.remove(fibers, runId))
  )

  yield* Effect.forkScoped(loop)
  yield* Effect.forkScoped(renewLoop)
  yield* Effect.forkScoped(cancelLoop)
  // On PostgreSQL: a start, a completion, a decision or a cancel in any process wakes this runner at once.
  yield* Effect.forkScoped(PgWakeups.listen({
    sql: store.sql,
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
export const layer = (options: RunnerOptions = {}): Layer.Layer<Runner, never, SqlClient.SqlClient | WorkflowRegistry> =>
  Layer.scoped(Runner, make(options)).pipe(Layer.provide(Storage.layer))
