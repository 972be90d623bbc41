/**
 * The leases a runner holds: what it knows of each (`makeHeld`), statements bounded by wall-clock time
 * (`makeBounded`), and the renewals, on a connection of their own on PostgreSQL (`renewals`).
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as InternalMetrics from "../metrics.js"
import type * as Storage from "../storage/storage.js"

/** What a runner knows of the lease of a run it executes. @internal */
export interface Held {
  /** On the local monotonic clock: past it, the lease may have expired (PostgreSQL only). */
  deadline: number
  /** Canceled, taken over, or stopped by this runner: nothing more of it may start. */
  stopped: boolean
}

/** @internal */
export const monotonicMillis = (): number => performance.now()

/**
 * The runs this runner executes, with what it knows of their leases. On PostgreSQL, a run's `deadline`
 * is the local monotonic time at which its last successful claim or renewal was sent, plus the lease,
 * minus a margin: the database measures the lease from a later moment on its own clock, so past the
 * deadline the lease may have expired and no durable node of the run may start (a runner cut off from
 * the database, or stalled, stops on its own; no two machines' clocks are compared). On SQLite leases
 * follow Effect's `Clock` on one machine, and only `stopped` counts.
 *
 * @internal
 */
export const makeHeld = (leaseMillis: number, databaseClock: boolean) => {
  const held = new Map<string, Held>()
  const margin = Math.min(leaseMillis / 10, 1000)
  const heldUntil = (sentAt: number) => sentAt + leaseMillis - margin
  const leaseHeld = (entry: Held) =>
    databaseClock
      ? () => !entry.stopped && monotonicMillis() < entry.deadline
      : () => !entry.stopped
  return { held, heldUntil, leaseHeld } as const
}

/**
 * Bounds a statement by a wall-clock time, whatever the network does. The statement runs in a fiber of
 * its own and is abandoned at the bound: the caller stops waiting, the statement is never interrupted
 * and finishes (or fails) in the background. Interrupting a statement on a pooled connection is unsafe
 * with `@effect/sql-pg`: it sends `pg_cancel_backend(pid)` through the pool, a query that may wait for a
 * free connection, and by the time it runs the interrupted statement may have finished and its
 * connection gone back to the pool and on to another caller, whose statement it then cancels. The caller
 * waits for whichever comes first; in an uninterruptible region (settling a run, a finalizer) that wait
 * still ends at the bound, and an interruption already pending on the caller (a process stopping on
 * SIGTERM) does not cut the statement short. The statement keeps the caller's `Clock`, so its times
 * stay those of the workflow.
 *
 * @internal
 */
export const makeBounded = (liveClock: Clock.Clock) =>
<A, E, R>(
  effect: Effect.Effect<A, E, R>,
  bound: Duration.Duration,
  what: string
): Effect.Effect<A, E | Cause.TimeoutException, R> =>
  Effect.clockWith((clock) =>
    Effect.gen(function*() {
      const done = yield* Deferred.make<A, E | Cause.TimeoutException>()
      yield* Effect.forkDaemon(
        Effect.uninterruptible(Effect.intoDeferred(Effect.withClock(effect, clock), done))
      )
      const timer = yield* Effect.forkDaemon(
        Effect.sleep(bound).pipe(
          Effect.zipRight(
            Deferred.fail(done, new Cause.TimeoutException(`${what}: no answer in ${Duration.format(bound)}`))
          ),
          Effect.withClock(liveClock)
        )
      )
      return yield* Deferred.await(done).pipe(Effect.ensuring(Fiber.interruptFork(timer)))
    })
  )


/** What the renewals of a runner work with. @internal */
export interface RenewalOptions {
  readonly storage: Pick<Storage.StorageService, "dedicatedConnection">
  readonly store: Storage.DedicatedConnection
  readonly runnerId: string
  readonly leaseMillis: number
  readonly renewEvery: Duration.Duration
  readonly shutdownTimeout: Duration.Duration
  /** Never renew (`Runner.RenewalsStalled`, tests only). */
  readonly stalled: boolean
  readonly databaseClock: boolean
  readonly leaseClock: Clock.Clock
  readonly held: Map<string, Held>
  readonly heldUntil: (sentAt: number) => number
  /** Open while the runner holds a run. */
  readonly holding: Effect.Latch
  readonly bounded: ReturnType<typeof makeBounded>
  readonly isStopping: () => boolean
  /** Stops a run whose lease a renewal found gone. */
  readonly stopRun: (runId: string, entry: Held) => Effect.Effect<void>
}

/**
 * The renewal loop of a runner (to fork), with the dedicated connection it renews over closed with the
 * scope.
 *
 * @internal
 */
export const renewals = (options: RenewalOptions): Effect.Effect<Effect.Effect<never>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const {
      bounded,
      databaseClock,
      held,
      heldUntil,
      holding,
      isStopping,
      leaseClock,
      leaseMillis,
      renewEvery,
      runnerId,
      shutdownTimeout,
      stalled,
      stopRun,
      storage,
      store
    } = options
    /**
     * On PostgreSQL, renewals go over a connection of their own, outside the pool the runs' steps draw
     * from: a runner whose steps hold every pooled connection (long transactions, a slow database) still
     * renews on time, so a live runner that is merely slow keeps its leases. The connection is opened in the
     * background, on first use and again after it was dropped; meanwhile renewals go through the pool. A
     * renewal never queues behind one still unanswered on that connection: the connection is dropped and
     * the renewal goes through the pool.
     */
    let leaseConnection: { readonly store: Storage.DedicatedConnection; readonly scope: Scope.CloseableScope } | undefined
    let opening = false
    let unanswered = 0
    const dropLeaseConnection = Effect.suspend(() => {
      const dropped = leaseConnection
      leaseConnection = undefined
      unanswered = 0
      return dropped === undefined ? Effect.void : bounded(Scope.close(dropped.scope, Exit.void), shutdownTimeout, "close")
    }).pipe(Effect.ignore)
    yield* Effect.addFinalizer(() => dropLeaseConnection)
    const openLeaseConnection = Effect.suspend(() => {
      if (!databaseClock || leaseConnection !== undefined || opening || isStopping()) return Effect.void
      opening = true
      return Effect.gen(function*() {
        const scope = yield* Scope.make()
        const connection = yield* storage.dedicatedConnection.pipe(
          Scope.extend(scope),
          Effect.onError(() => Scope.close(scope, Exit.void))
        )
        if (Option.isNone(connection) || leaseConnection !== undefined || isStopping()) {
          return yield* Scope.close(scope, Exit.void)
        }
        leaseConnection = { store: connection.value, scope }
        unanswered = 0
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logDebug("Gatehouse runner could not open its lease connection", cause)),
        Effect.ensuring(Effect.sync(() => opening = false)),
        Effect.forkDaemon,
        Effect.asVoid
      )
    })

    /**
     * One renewal of every lease held. It is waited for until the next one is due, then abandoned (logged
     * and counted) but not interrupted: a late answer still moves the deadlines, from the moment it was
     * sent. Runs it finds no longer held (canceled, taken over) are stopped.
     */
    const renewOnce = Effect.gen(function*() {
      const batch = Array.from(held.entries()).filter(([, entry]) => !entry.stopped)
      if (batch.length === 0) return
      let renewing: Storage.DedicatedConnection = store
      if (leaseConnection !== undefined && unanswered === 0) {
        renewing = leaseConnection.store
      } else {
        if (leaseConnection !== undefined) yield* dropLeaseConnection
        yield* openLeaseConnection
      }
      const onConnection = renewing !== store
      const now = yield* Clock.currentTimeMillis
      const sentAt = monotonicMillis()
      if (onConnection) unanswered++
      const lost = yield* bounded(
        renewing.renewLeases({ owner: runnerId, runIds: batch.map(([runId]) => runId), now, leaseMillis }).pipe(
          Effect.map((renewed) => {
            const lost: Array<readonly [string, Held]> = []
            for (const [runId, entry] of batch) {
              if (renewed.has(runId)) entry.deadline = Math.max(entry.deadline, heldUntil(sentAt))
              else lost.push([runId, entry])
            }
            return lost
          }),
          Effect.ensuring(Effect.sync(() => {
            if (onConnection && leaseConnection?.store === renewing) unanswered = Math.max(0, unanswered - 1)
          }))
        ),
        renewEvery,
        "renew"
      ).pipe(
        Effect.catchAllCause((cause) =>
          Effect.gen(function*() {
            yield* Metric.increment(InternalMetrics.leaseRenewalFailures)
            yield* Effect.logWarning(
              `Gatehouse runner could not renew its leases (${batch.length} runs) within ${Duration.format(renewEvery)}`,
              cause
            )
            // A connection that failed is replaced; one that is only slow is kept (the renewal still lands).
            const slow = Cause.isTimeoutException(Cause.squash(cause))
            if (onConnection && !slow && leaseConnection?.store === renewing) yield* dropLeaseConnection
            return []
          })
        )
      )
      for (const [runId, entry] of lost) {
        if (held.get(runId) === entry && !entry.stopped) {
          yield* Effect.logDebug(`Gatehouse runner no longer holds run ${runId} (ended, canceled or taken over)`)
          yield* Effect.forkDaemon(stopRun(runId, entry))
        }
      }
    })

    const renewLoop = Effect.gen(function*() {
      while (true) {
        if (held.size === 0) {
          // Nothing held: wait for a claim instead of ticking, so long waits cost nothing (and `TestClock`
          // jumps of days do not replay thousands of renewals).
          yield* holding.close
          if (held.size === 0) yield* holding.await
          continue
        }
        const started = monotonicMillis()
        // Paced from the start of each renewal: a slow one does not push the next one back.
        if (!stalled) yield* renewOnce
        // Whole milliseconds: on SQLite this sleeps on Effect's `Clock`, and a `TestClock` jump stops at each
        // sleep's end, so a fraction here would become the time every row is then written with.
        const elapsed = monotonicMillis() - started
        yield* Effect.sleep(Duration.millis(Math.max(0, Math.ceil(Duration.toMillis(renewEvery) - elapsed))))
      }
    }).pipe(Effect.withClock(leaseClock))
    return renewLoop
  })
