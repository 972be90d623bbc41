/**
 * The client side of the engine: start runs, watch them, wait for their results, cancel them and read
 * their journals. It needs only the SQL client, so any process (an HTTP server, a CLI, a test) can use
 * it without running workflows itself.
 *
 * Policy-gated starts live in `internal/workflows/starts.ts`, outside completions of deferreds in
 * `internal/workflows/deferreds.ts`; the models and errors in `internal/workflows/models.ts`, exported
 * from here.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Schema from "effect/Schema"
import { exitSchema, formatError } from "./internal/codec.js"
import { stringProblem } from "./internal/json.js"
import * as InternalMetrics from "./internal/metrics.js"
import * as Storage from "./internal/storage.js"
import * as StartByName from "./internal/startByName.js"
import { mapStorage } from "./internal/storageError.js"
import { toNode, toSummary } from "./internal/storage/runs.js"
import * as Deferreds from "./internal/workflows/deferreds.js"
import {
  CancelOptions,
  CancelResult,
  type DeferredExit,
  type DeferredNotReady,
  type ForkOptions,
  type ForkResult,
  InvalidRequest,
  ListOptions,
  type NodeKindMismatch,
  type ResumeOptions,
  type ResumeResult,
  RunPage,
  type RunNotResumable,
  type StartInput
} from "./internal/workflows/models.js"
import * as Repairs from "./internal/workflows/repairs.js"
import * as Starts from "./internal/workflows/starts.js"
import type * as Policy from "./Policy.js"
import * as Run from "./Run.js"
import type { StorageError } from "./StorageError.js"
import type { StartOptions } from "./Workflow.js"

/**
 * @since 0.1.0
 */
export * from "./internal/workflows/models.js"

/**
 * The client API. Every call fails with `StorageError` (never a defect) when the database fails it.
 *
 * @since 0.1.0
 * @category tags
 */
export class Workflows extends Context.Tag("@gatehouse/engine/Workflows")<Workflows, {
  /**
   * Persists a run unless one with the same id exists. The payload is already validated and encoded.
   * Returns whether this call created it.
   */
  readonly start: (run: StartInput) => Effect.Effect<
    boolean,
    Run.InvalidPayload | Policy.PolicyDenied | Policy.Throttled | StorageError
  >
  /**
   * Starts many runs at once: where no policy was ever activated, every run with its event in one
   * statement and one transaction, and one wake-up; where one was, each start goes through the policy in
   * order and the first refusal fails the call (the runs before it stay started). Says, in the order
   * given, which runs were created (false: it existed, or it came earlier in the batch).
   */
  readonly startMany: (runs: ReadonlyArray<StartInput>) => Effect.Effect<
    ReadonlyArray<boolean>,
    Run.InvalidPayload | Policy.PolicyDenied | Policy.Throttled | StorageError
  >
  /** The run as it stands now. */
  readonly poll: (runId: string) => Effect.Effect<Run.Summary, Run.RunNotFound | StorageError>
  /** Waits until the run is completed, failed or canceled, and returns it. */
  readonly result: (runId: string) => Effect.Effect<Run.Summary, Run.RunNotFound | StorageError>
  /**
   * Cancels a run that has not ended: it ends `canceled`, its waiting nodes are marked canceled, and no
   * later completion or decision resumes it.
   */
  readonly cancel: (
    runId: string,
    options: CancelOptions
  ) => Effect.Effect<
    CancelResult,
    Run.RunNotFound | InvalidRequest | StorageError
  >
  /**
   * Makes a failed or canceled run runnable again, in place (same run id), recorded with who and why
   * (`run.resumed`, and in the audit chain). Completed steps keep their results; a step whose recorded
   * outcome is a failure runs again as a new attempt with the same `Step.idempotencyKey`; waits a cancel
   * closed are waited for again; each approval is asked again, and the decision it had is reused, without
   * asking, only if it still holds (the same request, the same policy outcome, within the request's
   * `validFor`, its reviewers still allowed). `RunNotResumable` for a run that is running, waiting or
   * completed.
   */
  readonly resume: (options: ResumeOptions) => Effect.Effect<
    ResumeResult,
    Run.RunNotFound | RunNotResumable | InvalidRequest | StorageError
  >
  /**
   * Starts a new run (id `<origin>.fork-<n>`) whose journal is the origin's completed nodes before
   * `fromNode` (none without it): `fromNode` and everything after run again, with the origin's payload
   * or a new one validated by the workflow's schema (this process must know the workflow then). Its
   * approvals are asked again, and reuse the origin's decisions of approvals before `fromNode` that still
   * hold, as `resume` does. The two runs name each other (`forkedFrom`, `forks`). An unknown `fromNode` is
   * `InvalidRequest`. A run in any status can be forked: the nodes before `fromNode` do not change. A new
   * payload is validated with the workflow registered in the caller's context (`WorkflowRegistry`, as
   * `startByName`): without it, `WorkflowNotFound`.
   */
  readonly fork: (options: ForkOptions) => Effect.Effect<
    ForkResult,
    Run.RunNotFound | Run.WorkflowNotFound | Run.InvalidPayload | InvalidRequest | StorageError
  >
  /** The run with every node of its journal, in the order they were reached. */
  readonly inspect: (runId: string) => Effect.Effect<Run.Inspection, Run.RunNotFound | StorageError>
  /** Runs, newest first, filtered by status and workflow. */
  readonly list: (options?: ListOptions) => Effect.Effect<RunPage, InvalidRequest | StorageError>
  /**
   * Completes a durable deferred of a run with an Exit already encoded with the deferred's schemas.
   * First completion wins; a completion that arrives before the run awaits is kept.
   */
  readonly completeDeferred: (options: {
    readonly runId: string
    readonly name: string
    readonly exit: unknown
  }) => Effect.Effect<
    "completed" | "already-completed",
    Run.RunNotFound | Run.RunNotActive | NodeKindMismatch | StorageError
  >
  /**
   * Completes a durable deferred with JSON from outside any workflow code (a webhook): validated against
   * the JSON Schema the run stored when it reached the deferred's `await`, or, before that, against the
   * deferred declared in this process. `InvalidPayload` names the field that does not match;
   * `DeferredNotReady` when neither exists. First completion wins: a completed deferred answers
   * `already-completed` even once the run has ended (a webhook's retry), a deferred still open in an ended
   * run `RunNotActive`.
   */
  readonly completeDeferredJson: (options: {
    readonly runId: string
    readonly name: string
    readonly exit: DeferredExit
  }) => Effect.Effect<
    "completed" | "already-completed",
    Run.InvalidPayload | Run.RunNotFound | Run.RunNotActive | NodeKindMismatch | DeferredNotReady | StorageError
  >
  /**
   * Counts the runs in each status and the approvals waiting for a decision, and sets the
   * `gatehouse_runs{status}` gauge (`metrics.runs`) and `gatehouse_approvals_pending`
   * (`Approvals.metrics.pending`): two counting queries, meant to be run when the metrics are read (the HTTP
   * server does it on every scrape); nothing on the hot path keeps them.
   */
  readonly refreshMetrics: Effect.Effect<void, StorageError>
}>() {}

/**
 * The run metrics, as Effect `Metric`s: `runs` (a gauge tagged `status`, set by `refreshMetrics`) and
 * `stepDuration` (a histogram of the seconds a step's effect took, its retries included, recorded when
 * it runs and not on replay).
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics: {
  readonly runs: Metric.Metric.Gauge<number>
  readonly stepDuration: Metric.Metric.Histogram<number>
} = {
  runs: InternalMetrics.runs,
  stepDuration: InternalMetrics.stepDuration
}

/**
 * How often `result` looks at the database when no in-process signal arrives (a run executing in
 * another process).
 *
 * @since 0.1.0
 * @category references
 */
export class ResultPollInterval extends Context.Reference<ResultPollInterval>()(
  "@gatehouse/engine/Workflows/ResultPollInterval",
  { defaultValue: (): Duration.DurationInput => "250 millis" }
) {}

/**
 * The most `cancel` waits, on the wall clock, for the run it canceled to be held by no runner any more
 * (see `cancel`). The wait ends before that in every normal case: at once when no runner executes the
 * run, as soon as the runner executing it has stopped it, and at the latest when that runner's lease
 * expires (a canceled run's lease is never renewed). Past this bound `cancel` logs a warning and returns.
 *
 * @since 0.1.0
 * @category references
 */
export class CancelWaitTimeout extends Context.Reference<CancelWaitTimeout>()(
  "@gatehouse/engine/Workflows/CancelWaitTimeout",
  { defaultValue: (): Duration.DurationInput => "2 minutes" }
) {}

const liveClock = Clock.make()

const encodeCursor = (run: Run.Summary): string =>
  Buffer.from(JSON.stringify([run.createdAt, run.runId]), "utf8").toString("base64url")

const decodeCursor = Schema.decodeUnknown(
  Schema.compose(
    Schema.StringFromBase64Url,
    Schema.parseJson(Schema.Tuple(Schema.Number, Schema.String))
  )
)


/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Workflows["Type"], never, Storage.Storage> = Effect.gen(
  function*() {
    const storage = yield* Storage.Storage
    const { approvals: approvalStore, runs: store, signals } = storage

    // An id that is not storable text names no run: refused before it reaches the database.
    const getRun = (runId: string) =>
      stringProblem(runId) !== undefined ? Effect.fail(new Run.RunNotFound({ runId: String(runId) })) : store.getRun(runId).pipe(
        Effect.flatMap(Option.match({
          onNone: () => Effect.fail(new Run.RunNotFound({ runId })),
          onSome: Effect.succeed
        }))
      )

    const poll = (runId: string) => Effect.map(getRun(runId), toSummary)

    // A run that ends in this process hands its row over at once (`signals.ended`); one executing in another
    // process is looked at every `ResultPollInterval`.
    const result = (runId: string) =>
      Effect.gen(function*() {
        const interval = yield* ResultPollInterval
        while (true) {
          const waiter = signals.ended.register(runId)
          const ended = yield* Effect.gen(function*() {
            const run = yield* getRun(runId)
            if (Run.isTerminal(run.status)) return Option.some(run)
            return yield* Effect.raceFirst(
              Effect.map(waiter.ended, Option.some),
              Effect.as(Effect.sleep(interval), Option.none())
            )
          }).pipe(Effect.ensuring(Effect.sync(waiter.release)))
          if (Option.isSome(ended)) return toSummary(ended.value)
        }
      })

    const canceledExit = exitSchema(Schema.Unknown, Schema.Never)

    /**
     * Waits until a canceled run is held by no live lease: the runner executing it (woken in this process
     * by `signals.canceled`, in another by `NOTIFY` or, should that be lost, by its next renewal, which
     * finds the run no longer running) has interrupted it and given its lease back, or that lease has
     * expired. From then on nothing of the run starts anywhere: a runner starts no durable node of a run
     * it stopped, nor past its lease. Checked at each change in this process and every 25 ms otherwise,
     * at most `CancelWaitTimeout`.
     */
    const awaitStopped = (runId: string) =>
      Effect.gen(function*() {
        const bound = Duration.toMillis(Duration.decode(yield* CancelWaitTimeout))
        const until = performance.now() + bound
        while (true) {
          const changed = yield* signals.changes.capture
          if (yield* store.freeCanceled(runId, yield* Clock.currentTimeMillis)) return
          if (performance.now() >= until) {
            return yield* Effect.logWarning(
              `Gatehouse cancel of run ${runId}: still held by a runner after ${bound} ms; returning`
            )
          }
          yield* Effect.raceFirst(changed, Effect.withClock(Effect.sleep("25 millis"), liveClock))
        }
      })

    const cancel = (runId: string, options: CancelOptions) =>
      Effect.gen(function*() {
        const { by, reason } = yield* Schema.decodeUnknown(CancelOptions)(options).pipe(
          Effect.mapError((error) => new InvalidRequest({ reason: formatError(error) }))
        )
        const now = yield* Clock.currentTimeMillis
        const result = yield* Effect.gen(function*() {
          // The lock order of `internal/store.ts`: the run's lock first, then its rows.
          yield* store.lockRun(runId)
          const run = yield* store.getRun(runId).pipe(
            Effect.flatMap(Option.match({
              onNone: () => Effect.fail(new Run.RunNotFound({ runId })),
              onSome: Effect.succeed
            }))
          )
          if (Run.isTerminal(run.status)) return "already-finished" as const
          const encoded = yield* Schema.encode(canceledExit)(Exit.interrupt(FiberId.none)).pipe(Effect.orDie)
          const canceled = yield* store.cancelRun({
            runId,
            result: encoded,
            error: `canceled by ${by}${reason ? `: ${reason}` : ""}`,
            now
          })
          if (!canceled) return "already-finished" as const
          yield* store.closeOpenWork({
            runId,
            now,
            actor: by,
            reason: "run-canceled",
            runEvent: { runId, type: "run.canceled", actor: by, data: { reason }, now },
            runAudit: { runId, action: "run.canceled", actor: by, note: reason, now }
          })
          return "canceled" as const
        }).pipe(storage.transaction)
        if (result === "canceled") {
          yield* PubSub.publish(signals.canceled, runId)
          yield* signals.changes.notify
          yield* awaitStopped(runId)
        }
        const run = yield* getRun(runId)
        if (result === "canceled") signals.ended.publish(run)
        return new CancelResult({ status: result, run: toSummary(run) })
      })

    const inspect = (runId: string) =>
      Effect.gen(function*() {
        const run = yield* getRun(runId)
        const nodes = yield* storage.journal.loadJournal(runId)
        const events = yield* storage.events.ofRun(runId)
        return new Run.Inspection({
          run: toSummary(run),
          nodes: nodes.map(toNode),
          events: events.map(({ runId: _, seq: _seq, tx: _tx, ...event }) => event)
        })
      })

    const list = (options: ListOptions = {}) =>
      Effect.gen(function*() {
        const decoded = yield* Schema.decodeUnknown(ListOptions)(options).pipe(
          Effect.mapError((error) => new InvalidRequest({ reason: formatError(error) }))
        )
        const after = decoded.cursor === undefined ? undefined : yield* decodeCursor(decoded.cursor).pipe(
          Effect.mapError(() => new InvalidRequest({ reason: "cursor is not one this API returned" }))
        )
        const limit = decoded.limit ?? 50
        const rows = yield* store.listRuns({ status: decoded.status, workflow: decoded.workflow, limit, after })
        const runs = rows.map(toSummary)
        return new RunPage({ runs, ...(runs.length === limit ? { cursor: encodeCursor(runs[runs.length - 1]) } : {}) })
      })

    // Counted when read, never on the hot path: a request or a decision costs nothing proportional to the
    // number of approvals pending, and the figures are exact whichever processes made the changes.
    const refreshMetrics = Effect.gen(function*() {
      const counts = new Map((yield* store.countRunsByStatus()).map(({ n, status }) => [status, n]))
      for (const status of Run.RunStatus.literals) {
        yield* Metric.set(Metric.tagged(InternalMetrics.runs, "status", status), counts.get(status) ?? 0)
      }
      yield* Metric.set(InternalMetrics.approvalsPending, yield* approvalStore.pendingCount)
    })

    const { start, startMany } = Starts.make(storage)
    const { completeDeferred, completeDeferredJson } = Deferreds.make(storage, getRun)
    const { fork, resume } = Repairs.make(storage, getRun)

    return Workflows.of({
      start: (run) => start(run).pipe(mapStorage("Workflows.start")),
      startMany: (runs) => startMany(runs).pipe(mapStorage("Workflows.startMany")),
      poll: (runId) => mapStorage("Workflows.poll")(poll(runId)),
      result: (runId) => mapStorage("Workflows.result")(result(runId)),
      cancel: (runId, options) => mapStorage("Workflows.cancel")(cancel(runId, options)),
      resume: (options) => mapStorage("Workflows.resume")(resume(options)),
      fork: (options) => mapStorage("Workflows.fork")(fork(options)),
      inspect: (runId) => mapStorage("Workflows.inspect")(inspect(runId)),
      list: (options) => mapStorage("Workflows.list")(list(options)),
      completeDeferred: (options) => mapStorage("Workflows.completeDeferred")(completeDeferred(options)),
      completeDeferredJson: (options) => mapStorage("Workflows.completeDeferredJson")(completeDeferredJson(options)),
      refreshMetrics: mapStorage("Workflows.refreshMetrics")(refreshMetrics)
    })
  }
)

/**
 * The client, on the SQL client in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Workflows, never, SqlClient.SqlClient> = Layer.effect(Workflows, make).pipe(
  Layer.provide(Storage.layer)
)

/**
 * A run started by name: its id, its workflow, and whether this call created it (`false`: the idempotency
 * key named a run that already existed).
 *
 * @since 0.1.0
 * @category models
 */
export interface StartedRun {
  readonly runId: Run.RunId
  readonly workflow: string
  readonly created: boolean
}

/**
 * Starts a workflow known by its name only (an HTTP start, a tool): the payload in its encoded (JSON)
 * form is decoded with the workflow's payload schema, then validated, keyed and put through the active
 * policy exactly as `MyWorkflow.start` does, so the same payload gives the same run id and the same typed
 * errors (`InvalidPayload` for a payload the schema refuses or an idempotency key function that throws).
 * The workflow must be known to this process's `WorkflowRegistry` (its `toLayer`, or `define`):
 * otherwise, and in a process with only the client services, `WorkflowNotFound`, nothing written.
 *
 * @since 0.1.0
 * @category starting
 */
export const startByName = (
  name: string,
  payload: unknown,
  options?: StartOptions
): Effect.Effect<
  StartedRun,
  Run.WorkflowNotFound | Run.InvalidPayload | Policy.PolicyDenied | Policy.Throttled | StorageError,
  Workflows
> => Effect.flatMap(Workflows, (workflows) => StartByName.startByName(workflows, name, payload, options))

/**
 * The run id `startByName(name, payload, options)` would start, validated the same way, nothing written:
 * the same as `MyWorkflow.runIdFor` of the decoded payload.
 *
 * @since 0.1.0
 * @category starting
 */
export const runIdFor = (
  name: string,
  payload: unknown,
  options?: StartOptions
): Effect.Effect<Run.RunId, Run.WorkflowNotFound | Run.InvalidPayload> =>
  Effect.suspend(() => StartByName.runIdFor(name, payload, options))
