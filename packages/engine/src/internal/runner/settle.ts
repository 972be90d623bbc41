/**
 * How a run's execution ends in storage (completed, failed, suspended, or given back for a replay), and the
 * trace a takeover leaves in the run's history.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type { WorkflowRegistry } from "../../WorkflowRegistry.js"
import { describeCause } from "../codec.js"
import type * as Instance from "../instance.js"
import * as InternalMetrics from "../metrics.js"
import type * as Storage from "../storage/storage.js"
import type { GroupCommit } from "../storage/groupCommit.js"

/** @internal */
export interface SettleOptions {
  readonly registry: WorkflowRegistry["Type"]
  readonly store: Pick<Storage.Leases, "releaseRun">
  readonly storage: Pick<Storage.StorageService, "events">
  readonly runnerId: string
  /** Writes a run's end (a shared commit) and hands the row to the waiters on its result. */
  readonly finish: (end: Storage.RunEnd) => Effect.Effect<unknown, unknown>
  readonly suspensions: GroupCommit<Storage.Suspension, unknown>
}

/** @internal */
export const make = (options: SettleOptions) => {
  const { finish, registry, runnerId, storage, store, suspensions } = options
const settleRun = (
  claim: Storage.ClaimedRun,
  state: Instance.InstanceState,
  outcome: Instance.Outcome<unknown, unknown>
) =>
  Effect.gen(function*() {
    const registration = registry.get(claim.workflow)
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
const recordTakeover = (claim: Storage.ClaimedRun, from: string) =>
  Effect.gen(function*() {
    yield* Metric.increment(InternalMetrics.runnerTakeovers)
    yield* Effect.logInfo(`Gatehouse runner took over run ${claim.id} from ${from}, whose lease had expired`)
    yield* storage.events.append({
      runId: claim.id,
      type: "run.taken-over",
      actor: runnerId,
      data: { from, by: runnerId, claims: claim.claims },
      now: yield* Clock.currentTimeMillis
    })
  }).pipe(Effect.catchAllCause((cause) => Effect.logWarning("Gatehouse runner could not record a takeover", cause)))
  return { settleRun, recordTakeover } as const
}
