/**
 * The client side of the engine: start runs, watch them, wait for their results, cancel them and read
 * their journals. It needs only the SQL client, so any process (an HTTP server, a CLI, a test) can use
 * it without running workflows itself.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
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
import * as JsonSchemaValidator from "./internal/jsonSchemaValidator.js"
import { declared } from "./internal/deferreds.js"
import { jsonProblem, stringProblem, Text } from "./internal/json.js"
import { appendEvent, eventsOfRun } from "./internal/log.js"
import * as InternalMetrics from "./internal/metrics.js"
import * as PgWakeups from "./internal/pgWakeups.js"
import * as PolicyGate from "./internal/policyGate.js"
import type { StartGate } from "./internal/rows.js"
import * as Tracing from "./internal/tracing.js"
import * as Storage from "./internal/storage.js"
import * as StartByName from "./internal/startByName.js"
import { mapStorage } from "./internal/storageError.js"
import { toNode, toSummary } from "./internal/store.js"
import * as Policy from "./Policy.js"
import * as Run from "./Run.js"
import type { StorageError } from "./StorageError.js"
import type { StartOptions } from "./Workflow.js"

/**
 * Options of `list`, validated with this schema.
 *
 * @since 0.1.0
 * @category models
 */
export const ListOptions = Schema.Struct({
  status: Schema.optional(Run.RunStatus),
  workflow: Schema.optional(Schema.String),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 500))),
  cursor: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ListOptions = typeof ListOptions.Type

/**
 * A page of runs, newest first; pass `cursor` back to get the next page.
 *
 * @since 0.1.0
 * @category models
 */
export class RunPage extends Schema.Class<RunPage>("@gatehouse/engine/Workflows/RunPage")({
  runs: Schema.Array(Run.Summary),
  /** Pass it back to read the next page; absent on the last one. */
  cursor: Schema.optional(Schema.String)
}) {}

/**
 * The outcome of `cancel`: whether this call canceled the run, and the run as it now stands.
 *
 * @since 0.1.0
 * @category models
 */
export class CancelResult extends Schema.Class<CancelResult>("@gatehouse/engine/Workflows/CancelResult")({
  status: Schema.Literal("canceled", "already-finished"),
  run: Run.Summary
}) {}

/**
 * Options of `cancel`, validated with this schema.
 *
 * @since 0.1.0
 * @category models
 */
export const CancelOptions = Schema.Struct({
  by: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200), Schema.compose(Text)),
  reason: Schema.optional(Schema.String.pipe(Schema.maxLength(2000), Schema.compose(Text)))
})

/**
 * @since 0.1.0
 * @category models
 */
export type CancelOptions = typeof CancelOptions.Type

/**
 * A run to persist: the payload already validated and encoded. With an active policy, the start is
 * evaluated first (the workflow, `labels`, `startedBy` as the actor with `roles`, the payload as the
 * input): `deny` fails with `PolicyDenied` and `throttle` over its rate with `Throttled`, and nothing of
 * the run is stored; `require_human` stores the run behind an approval (node `policy/start`) that its body
 * waits for before it begins.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartInput {
  readonly runId: Run.RunId
  readonly workflow: string
  readonly idempotencyKey: string | undefined
  readonly payload: unknown
  readonly startedBy: string | undefined
  readonly labels?: Readonly<Record<string, string>> | undefined
  readonly roles?: ReadonlyArray<string> | undefined
}

/**
 * A request the client API cannot accept as given: it changed nothing.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequest extends Schema.TaggedError<InvalidRequest>("@gatehouse/engine/InvalidRequest")(
  "InvalidRequest",
  { reason: Schema.String }
) {
  override get message(): string {
    return `Invalid request: ${this.reason}`
  }
}

/**
 * A completion addressed a node that is not a durable deferred of that run.
 *
 * @since 0.1.0
 * @category errors
 */
export class NodeKindMismatch extends Schema.TaggedError<NodeKindMismatch>("@gatehouse/engine/NodeKindMismatch")(
  "NodeKindMismatch",
  { runId: Schema.String, nodeId: Schema.String, expected: Run.NodeKind, actual: Run.NodeKind }
) {
  override get message(): string {
    return `Node "${this.nodeId}" of run "${this.runId}" is a ${this.actual}, not a ${this.expected}`
  }
}

/**
 * An outside completion of a deferred that no JSON Schema can validate yet: the run has not reached the
 * deferred's `await` (which stores its schema), and this process has no declaration of it. Nothing was
 * stored; retry once the run waits for it, or complete it from code that declares it.
 *
 * @since 0.1.0
 * @category errors
 */
export class DeferredNotReady extends Schema.TaggedError<DeferredNotReady>("@gatehouse/engine/DeferredNotReady")(
  "DeferredNotReady",
  { runId: Schema.String, nodeId: Schema.String }
) {
  override get message(): string {
    return `Run "${this.runId}" does not await the deferred "${this.nodeId}" yet, and no schema to validate it is known`
  }
}

/**
 * A deferred's completion as JSON (the encoded side of the deferred's schemas): a value, or an error the
 * await fails with.
 *
 * @since 0.1.0
 * @category models
 */
export const DeferredExit = Schema.Union(
  Schema.Struct({ _tag: Schema.Literal("Success"), value: Schema.Unknown }),
  Schema.Struct({ _tag: Schema.Literal("Failure"), error: Schema.Unknown })
)

/**
 * @since 0.1.0
 * @category models
 */
export type DeferredExit = typeof DeferredExit.Type

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

const ruleOf = (evaluation: Policy.Evaluation) => evaluation.ruleId === undefined ? {} : { ruleId: evaluation.ruleId }

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Workflows["Type"], never, Storage.Storage> = Effect.gen(
  function*() {
    const { approvals: approvalStore, policies, runs: store, signals } = yield* Storage.Storage

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
        }).pipe(PgWakeups.withTransaction(store.sql))
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
        const nodes = yield* store.loadJournal(runId)
        const events = yield* eventsOfRun(store.sql, runId)
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

    const { errorsText, validatorFor } = JsonSchemaValidator.make()

    /** Why a JSON completion does not match the deferred's schema, `DeferredNotReady` when none is known. */
    const checkJson = (runId: string, name: string, exit: DeferredExit, encoded: unknown) =>
      Effect.gen(function*() {
        const invalid = (reason: string) => new Run.InvalidPayload({ workflow: `deferred ${name}`, reason })
        const stored = yield* store.getNodeJsonSchema(runId, name)
        if (Option.isSome(stored)) {
          const schemas = stored.value as { readonly success: unknown; readonly failure: unknown }
          const [schema, value, dataVar] = exit._tag === "Success"
            ? [schemas.success, exit.value, "success"]
            : [schemas.failure, exit.error, "failure"]
          const validate = validatorFor(schema)
          if (!validate(value)) return yield* invalid(errorsText(validate.errors, { dataVar }))
          return
        }
        const deferred = declared.get(name)
        if (deferred === undefined) return yield* new DeferredNotReady({ runId, nodeId: name })
        yield* Schema.decodeUnknown(deferred.exitSchema)(encoded).pipe(
          Effect.mapError((error) => invalid(formatError(error)))
        )
      })

    const completeDeferred = <E = never>(
      options: { readonly runId: string; readonly name: string; readonly exit: unknown },
      check?: Effect.Effect<void, E | SqlError>
    ) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const link = yield* Tracing.currentLink
        // The run's lock (see `internal/store.ts`), not its row's: first completion wins through the node's
        // own upsert, and a runner claiming the woken run must not skip it because another completion is in
        // flight. The row is written last, by the wake.
        const outcome = yield* Effect.gen(function*() {
          yield* store.lockRun(options.runId)
          const run = yield* getRun(options.runId)
          if (check !== undefined) {
            const node = yield* store.getNode(options.runId, options.name)
            if (Option.isSome(node) && node.value.kind !== "deferred") {
              return yield* new NodeKindMismatch({
                runId: options.runId,
                nodeId: options.name,
                expected: "deferred",
                actual: node.value.kind
              })
            }
            // A webhook's retry stays idempotent after the run went on and ended.
            if (Option.isSome(node) && node.value.status === "completed") return "already-completed" as const
          }
          if (Run.isTerminal(run.status)) {
            return yield* new Run.RunNotActive({ runId: options.runId, status: run.status })
          }
          if (check !== undefined) yield* check
          const completed = yield* store.completeNodeFromOutside({
            runId: options.runId,
            nodeId: options.name,
            kind: "deferred",
            exit: options.exit,
            now
          })
          if (!completed) {
            const latest = yield* getRun(options.runId)
            if (Run.isTerminal(latest.status)) {
              return yield* new Run.RunNotActive({ runId: options.runId, status: latest.status })
            }
            const node = yield* store.getNode(options.runId, options.name)
            if (Option.isSome(node) && node.value.kind !== "deferred") {
              return yield* new NodeKindMismatch({
                runId: options.runId,
                nodeId: options.name,
                expected: "deferred",
                actual: node.value.kind
              })
            }
            return "already-completed" as const
          }
          yield* store.wake(options.runId, now, link)
          yield* appendEvent(store.sql, { runId: options.runId, nodeId: options.name, type: "deferred.completed", now })
          return "completed" as const
        }).pipe(PgWakeups.withTransaction(store.sql))
        if (outcome === "completed") yield* signals.work.notify
        return outcome
      })

    const completeDeferredJson = (options: {
      readonly runId: string
      readonly name: string
      readonly exit: DeferredExit
    }) =>
      Effect.gen(function*() {
        const invalid = (reason: string) => new Run.InvalidPayload({
          workflow: `deferred ${typeof options.name === "string" ? options.name : "(not a string)"}`,
          reason
        })
        const exit = yield* Schema.decodeUnknown(DeferredExit)(options.exit).pipe(
          Effect.mapError((error) => invalid(formatError(error)))
        )
        const nameProblem = stringProblem(options.name)
        if (nameProblem !== undefined || options.name === "") return yield* invalid(`name ${nameProblem ?? "is empty"}`)
        const value = exit._tag === "Success" ? exit.value : exit.error
        // Stored as JSON and decoded on replay: it must come back exactly as sent.
        const problem = jsonProblem(value, { undefinedProperties: "absent" })
        if (problem !== undefined) return yield* invalid(`the completion is not JSON: ${problem}`)
        const encoded = exit._tag === "Success"
          ? { _tag: "Success", value: exit.value }
          : { _tag: "Failure", cause: { _tag: "Fail", error: exit.error } }
        return yield* completeDeferred(
          { runId: options.runId, name: options.name, exit: encoded },
          checkJson(options.runId, options.name, exit, encoded)
        )
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

    const actionOf = (run: StartInput) =>
      Schema.decodeUnknown(Policy.Action)({
        workflow: run.workflow,
        ...(run.labels !== undefined ? { labels: run.labels } : {}),
        ...(run.startedBy !== undefined ? { actor: run.startedBy } : {}),
        ...(run.roles !== undefined ? { roles: run.roles } : {}),
        input: run.payload
      }).pipe(Effect.mapError((error) => new Run.InvalidPayload({ workflow: run.workflow, reason: formatError(error) })))

    const ungovernedRun = (run: StartInput) => ({
      id: run.runId,
      workflow: run.workflow,
      idempotencyKey: run.idempotencyKey,
      payload: JSON.stringify(run.payload),
      startedBy: run.startedBy
    })

    /** A start where a policy was activated: the policy decides, the run's start gate and evaluation are stored with it. */
    const startGoverned = (run: StartInput, action: Policy.Action, now: number) =>
      Effect.gen(function*() {
        const insert = (startGate: StartGate | undefined, andThen?: Effect.Effect<void, SqlError>) =>
          store.insertRun({ ...ungovernedRun(run), startGate, now }, andThen)
        const policy = yield* PolicyGate.active(store.sql)
        let created: boolean
        if (Option.isNone(policy)) {
          created = yield* insert(undefined)
        } else {
          // Starting an existing run again finds it: nothing is evaluated, counted or recorded.
          if (Option.isSome(yield* store.getRun(run.runId))) return false
          const verdict = yield* PolicyGate.verdictUnder(store.sql, policy.value, action, now)
          if (verdict._tag === "NoPolicy") return yield* Effect.dieMessage("a policy is active")
          const record = (runId: string | undefined) =>
            policies.recordEvaluation({
              runId,
              nodeId: undefined,
              evaluation: verdict.evaluation,
              action,
              actor: run.startedBy ?? "anonymous",
              now
            })
          const refused = { workflow: run.workflow, snapshotId: verdict.evaluation.snapshotId, ...ruleOf(verdict.evaluation) }
          if (verdict._tag === "Deny") {
            yield* record(undefined)
            return yield* new Policy.PolicyDenied({ ...refused, reason: verdict.reason })
          }
          if (verdict._tag === "Throttled") {
            yield* record(undefined)
            return yield* new Policy.Throttled({ ...refused, key: verdict.key, limit: verdict.limit, retryAt: verdict.retryAt })
          }
          const startGate = verdict._tag === "RequireHuman"
            ? { approval: verdict.approval, binding: PolicyGate.bindingOf(action, verdict.evaluation) }
            : undefined
          created = yield* insert(startGate, record(run.runId))
        }
        if (created) yield* signals.work.notify
        return created
      })

    // Where no policy was ever activated a start is one statement (and a batch of starts, one too);
    // otherwise each start goes through the policy.
    const startMany = (runs: ReadonlyArray<StartInput>) =>
      Effect.gen(function*() {
        if (runs.length === 0) return []
        const now = yield* Clock.currentTimeMillis
        const actions = yield* Effect.forEach(runs, actionOf)
        const batch = yield* store.insertRuns(runs.map(ungovernedRun), now)
        if (!batch.governed) {
          if (batch.created.size > 0) yield* signals.work.notify
          const reported = new Set<string>()
          return runs.map((run) => batch.created.has(run.runId) && !reported.has(run.runId) && reported.add(run.runId) !== undefined)
        }
        return yield* Effect.forEach(runs, (run, index) => startGoverned(run, actions[index], now))
      })

    const start = (run: StartInput) => Effect.map(startMany([run]), (created) => created[0] === true)

    return Workflows.of({
      start: (run) => start(run).pipe(mapStorage("Workflows.start")),
      startMany: (runs) => startMany(runs).pipe(mapStorage("Workflows.startMany")),
      poll: (runId) => mapStorage("Workflows.poll")(poll(runId)),
      result: (runId) => mapStorage("Workflows.result")(result(runId)),
      cancel: (runId, options) => mapStorage("Workflows.cancel")(cancel(runId, options)),
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
