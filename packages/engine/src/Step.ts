/**
 * Steps: the unit of work of a workflow whose outcome is checkpointed. A step's effect runs once per
 * run; on replay its recorded Exit is returned and the effect does not run again.
 *
 * What "exactly once" means here: the checkpoint is written exactly once, and the step's result is
 * observed exactly once by the rest of the workflow. The effect itself is at-least-once: if the process
 * dies after the effect and before its checkpoint commits, the effect runs again on replay. Give external
 * systems `Step.idempotencyKey`, which is the same on every such attempt, so they can deduplicate.
 * A write to the engine's own database can be exactly once: `Step.transaction` commits it in the same
 * transaction as the checkpoint.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import type * as Approval from "./Approval.js"
import type * as Policy from "./Policy.js"
import * as ApprovalRequest from "./internal/approvalRequest.js"
import { decodeExit, encodeExit, exitSchema } from "./internal/codec.js"
import * as Instance from "./internal/instance.js"
import * as InternalMetrics from "./internal/metrics.js"
import * as PolicyGate from "./internal/policyGate.js"
import * as Tracing from "./internal/tracing.js"
import { WorkflowInstance } from "./WorkflowInstance.js"

/**
 * What a step's effect can read about itself.
 *
 * @since 0.1.0
 * @category context
 */
export class StepContext extends Context.Tag("@gatehouse/engine/StepContext")<StepContext, {
  readonly runId: string
  readonly nodeId: string
  /** 1 for the first attempt, counting the step's own retries. */
  readonly attempt: number
  readonly idempotencyKey: string
}>() {}

/**
 * A key for external systems (a payment provider's idempotency key) that is the same on every attempt
 * of this step, in every replay and every process: derived from the run id and the step id only.
 *
 * @since 0.1.0
 * @category accessors
 */
export const idempotencyKey: Effect.Effect<string, never, StepContext> = Effect.map(
  StepContext,
  (context) => context.idempotencyKey
)

/**
 * The step did not finish within its `timeout`.
 *
 * @since 0.1.0
 * @category errors
 */
export class StepTimeout extends Schema.TaggedError<StepTimeout>("@gatehouse/engine/StepTimeout")("StepTimeout", {
  nodeId: Schema.String,
  timeoutMillis: Schema.Number
}) {
  override get message(): string {
    return `Step "${this.nodeId}" timed out after ${this.timeoutMillis}ms`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<A, E> {
  /** How the result is stored; without it the result must be plain JSON. */
  readonly success?: Schema.Schema<A, any> | undefined
  /** How a failure is stored; without it the error is stored as its JSON form. */
  readonly error?: Schema.Schema<E, any> | undefined
  /** Retries of the effect before its outcome is recorded. */
  readonly retry?: Schedule.Schedule<any, NoInfer<E> | StepTimeout> | undefined
  /** A limit on each attempt; an attempt that exceeds it fails with `StepTimeout`. */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * An approval gate before the step, under the node id `${id}/approval`. A denial fails the run with
   * `ApprovalDenied` and the step never runs.
   */
  readonly needsApproval?: Omit<Approval.Request<never>, "onDeny" | "decision"> | undefined
  /**
   * Declares the step as an action the active policy evaluates before it runs (once per run, journaled
   * under `${id}/policy`): with its `input` (JSON) and `labels`, the workflow's name and the run's starter
   * as the actor. `deny` fails the run with `PolicyDenied`; over a throttle's rate the step fails with
   * `Throttled` (recorded, so a replay fails the same way); `require_human` puts an approval
   * (`${id}/policy-approval`, bound to the policy's snapshot and the action's hash) before the step.
   */
  readonly action?: string | undefined
  /** The declared action's input, as the policy's conditions see it. */
  readonly input?: unknown
  /** The declared action's labels (environment, channel, tenant…). */
  readonly labels?: Readonly<Record<string, string>> | undefined
}

/**
 * The shape of `Step.run` and `Step.transaction`: with a `timeout`, `StepTimeout` joins the error type.
 *
 * @since 0.1.0
 * @category models
 */
export interface StepConstructor {
  <A, E, R>(
    id: string,
    effect: Effect.Effect<A, E, R>,
    options: Options<A, E> & { readonly timeout: Duration.DurationInput; readonly action: string }
  ): Effect.Effect<A, E | StepTimeout | Policy.Throttled, Exclude<R, StepContext> | WorkflowInstance>
  <A, E, R>(
    id: string,
    effect: Effect.Effect<A, E, R>,
    options: Options<A, E> & { readonly action: string }
  ): Effect.Effect<A, E | Policy.Throttled, Exclude<R, StepContext> | WorkflowInstance>
  <A, E, R>(
    id: string,
    effect: Effect.Effect<A, E, R>,
    options: Options<A, E> & { readonly timeout: Duration.DurationInput }
  ): Effect.Effect<A, E | StepTimeout, Exclude<R, StepContext> | WorkflowInstance>
  <A, E, R>(
    id: string,
    effect: Effect.Effect<A, E, R>,
    options?: Options<A, E>
  ): Effect.Effect<A, E, Exclude<R, StepContext> | WorkflowInstance>
}

const timeoutUnions = new WeakMap<Schema.Schema.All, Schema.Schema.All>()
const withTimeout = (failure: Schema.Schema.All): Schema.Schema.All => {
  let union = timeoutUnions.get(failure)
  if (union === undefined) {
    union = Schema.Union(failure, StepTimeout)
    timeoutUnions.set(failure, union)
  }
  return union
}

/**
 * A key stable across attempts, replays and processes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeIdempotencyKey = (runId: string, nodeId: string): string =>
  createHash("sha256").update(`${runId}\u0000${nodeId}`).digest("hex").slice(0, 40)

/**
 * Runs `effect` once for this run and checkpoints its Exit under `id`. On replay the recorded Exit is
 * returned (successes, failures and defects alike) and `effect` is not run again.
 *
 * @example
 * ```ts
 * import { Step } from "@gatehouse/engine"
 * import { Effect, Schedule, Schema } from "effect"
 *
 * const charge = Step.run(
 *   "charge-card",
 *   Effect.gen(function*() {
 *     const key = yield* Step.idempotencyKey
 *     return { chargeId: `ch_${key}` }
 *   }),
 *   { success: Schema.Struct({ chargeId: Schema.String }), retry: Schedule.recurs(3), timeout: "30 seconds" }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run: StepConstructor = <A, E, R>(
  id: string,
  effect: Effect.Effect<A, E, R>,
  options?: Options<A, E>
): Effect.Effect<A, E | StepTimeout, Exclude<R, StepContext> | WorkflowInstance> =>
  step(id, effect, options, ({ attempt, record }) =>
    Effect.gen(function*() {
      let attempts = 0
      const once = Effect.suspend(() => attempt(++attempts))
      const started = yield* Clock.currentTimeMillis
      const exit = yield* (options?.retry === undefined ? once : Effect.retry(once, options.retry)).pipe(Effect.exit)
      // The effect interrupted itself (a race inside it lost by everything): no outcome to record; the step
      // runs again on the next replay.
      if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
      yield* recordDuration(started)
      yield* Effect.annotateCurrentSpan({ replayed: false, attempt: attempts })
      return yield* record(exit, attempts)
    }))

/**
 * What both kinds of step share: replaying a recorded outcome, the approval gate, one attempt of the
 * effect (with its context and timeout), and recording an outcome. Each kind decides how attempts and
 * the checkpoint are put together.
 */
const step = <A, E, R>(
  id: string,
  effect: Effect.Effect<A, E, R>,
  options: Options<A, E> | undefined,
  body: (step: {
    readonly instance: WorkflowInstance["Type"]
    readonly attempt: (attempt: number) => Effect.Effect<A, E | StepTimeout, Exclude<R, StepContext>>
    /** Encodes and checkpoints the outcome; returns the encoded Exit. */
    readonly checkpoint: (exit: Exit.Exit<A, E | StepTimeout>, attempt: number) => Effect.Effect<unknown>
    /** Checkpoints the outcome and returns it as a replay would. */
    readonly record: (exit: Exit.Exit<A, E | StepTimeout>, attempt: number) => Effect.Effect<A, E | StepTimeout>
    readonly replay: (encoded: unknown) => Effect.Effect<A, E | StepTimeout>
  }) => Effect.Effect<A, E | StepTimeout, Exclude<R, StepContext>>
): Effect.Effect<A, E | StepTimeout, Exclude<R, StepContext> | WorkflowInstance> =>
  Effect.flatMap(WorkflowInstance, (instance) => Instance.node(instance, Effect.gen(function*() {
    yield* Effect.annotateCurrentSpan("runId", instance.runId)
    const timeout = options?.timeout === undefined ? undefined : Duration.decode(options.timeout)
    const failure = options?.error ?? Schema.Unknown
    const schema = exitSchema(options?.success ?? Schema.Unknown, timeout === undefined ? failure : withTimeout(failure))
    const replay = (encoded: unknown) => Effect.flatten(decodeExit(schema, encoded))

    const recorded = yield* Instance.lookup(instance, id, "step")
    if (Option.isSome(recorded) && recorded.value.status === "completed") {
      yield* Effect.annotateCurrentSpan({ replayed: true, attempt: recorded.value.attempt })
      return yield* replay(recorded.value.exit)
    }

    if (options?.action !== undefined) {
      yield* PolicyGate.declaredAction(instance, id, {
        action: options.action,
        input: options.input,
        labels: options.labels
      }) as Effect.Effect<void, never>
    }
    if (options?.needsApproval !== undefined) {
      yield* ApprovalRequest.request(`${id}/approval`, { ...options.needsApproval, onDeny: "fail" })
    }

    // Hashed only when the step's effect asks for it: most steps never do, and it is on the hot path.
    let key: string | undefined
    const attempt = (attempt: number) => {
      const attemptEffect = Effect.provideService(effect, StepContext, {
        runId: instance.runId,
        nodeId: id,
        attempt,
        get idempotencyKey() {
          return key ??= makeIdempotencyKey(instance.runId, id)
        }
      })
      return timeout === undefined ? attemptEffect : Effect.timeoutFail(attemptEffect, {
        duration: timeout,
        onTimeout: () => new StepTimeout({ nodeId: id, timeoutMillis: Duration.toMillis(timeout) })
      })
    }
    const checkpoint = (exit: Exit.Exit<A, E | StepTimeout>, attempt: number) =>
      Effect.tap(
        encodeExit(schema, exit, `Step "${id}"`),
        (encoded) => Instance.checkpoint(instance, { nodeId: id, kind: "step", status: "completed", exit: encoded, attempt })
      )
    const record = (exit: Exit.Exit<A, E | StepTimeout>, attempt: number) =>
      Effect.flatMap(checkpoint(exit, attempt), replay)
    return yield* body({ instance, attempt, checkpoint, record, replay })
  }))).pipe(Tracing.span("gatehouse.step", { nodeId: id }))

/** Records the seconds since `started` in `gatehouse_step_duration_seconds`. */
const recordDuration = (started: number): Effect.Effect<void> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => Metric.update(InternalMetrics.stepDuration, Math.max(0, now - started) / 1000))

/**
 * The effect's own outcome, carried out of the transaction so that the transaction rolls back.
 */
class RolledBack {
  readonly _tag = "RolledBack"
  constructor(readonly exit: Exit.Exit<unknown, unknown>) {}
}

/**
 * A step whose effect runs inside the same SQL transaction as its checkpoint: the effect's database
 * writes and the step's recorded result commit together or not at all, so a database side effect is
 * exactly once, whatever process dies when.
 *
 * - Every statement the effect runs through a `SqlClient` joins the transaction (the engine's client,
 *   on the same database as the journal).
 * - The checkpoint is fenced on the run's lease: if another runner took the run over meanwhile, nothing
 *   is written and the effect's writes roll back with it.
 * - When the effect fails (or dies) its writes roll back and the failure is checkpointed on its own, so
 *   it is returned on replay like any step's. `retry` runs each attempt in a new transaction.
 * - Keep it short: it holds a connection (on SQLite, the database) for as long as it runs. Calls to
 *   outside systems belong in `Step.run` with `Step.idempotencyKey`, not here.
 *
 * @example
 * ```ts
 * import { SqlClient } from "@effect/sql"
 * import { Step } from "@gatehouse/engine"
 * import { Effect, Schema } from "effect"
 *
 * const credit = Step.transaction(
 *   "credit-account",
 *   Effect.gen(function*() {
 *     const sql = yield* SqlClient.SqlClient
 *     yield* sql`UPDATE accounts SET balance = balance + ${100} WHERE id = ${"acc-1"}`
 *     return "credited"
 *   }),
 *   { success: Schema.String }
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const transaction: StepConstructor = <A, E, R>(
  id: string,
  effect: Effect.Effect<A, E, R>,
  options?: Options<A, E>
): Effect.Effect<A, E | StepTimeout, Exclude<R, StepContext> | WorkflowInstance> =>
  step(id, effect, options, ({ attempt, checkpoint, instance, record, replay }) =>
    Effect.gen(function*() {
      // A plain transaction of the client: the user's effect may use `SqlClient` from context inside it.
      const inTransaction = Instance.stateOf(instance).storage.userTransaction
      let attempts = 0
      const once = Effect.suspend(() => {
        const thisAttempt = ++attempts
        return Effect.gen(function*() {
          const exit = yield* Effect.exit(attempt(thisAttempt))
          if (Exit.isFailure(exit)) return yield* Effect.fail(new RolledBack(exit))
          // Inside the transaction: the checkpoint commits with the effect's writes. A lost lease or a
          // storage failure interrupts, and the interrupt rolls everything back.
          return yield* checkpoint(exit, thisAttempt)
        }).pipe(
          inTransaction,
          Effect.catchAllCause((cause): Effect.Effect<unknown, unknown> => {
            // A failed COMMIT or ROLLBACK (a dropped connection) surfaces as a SqlError, failed or died:
            // the outcome is unknown to this execution, so stop and let a replay read what the database kept.
            const storageError = Option.orElse(
              Cause.find(cause, (c) =>
                c._tag === "Fail" && !(c.error instanceof RolledBack) ? Option.some(c.error) : Option.none()),
              () => Cause.find(cause, Instance.sqlErrorDefect)
            )
            if (Option.isSome(storageError)) {
              return Effect.suspend(() => {
                Instance.stateOf(instance).storageFailure ??= storageError.value as any
                return Instance.halt(instance)
              })
            }
            const rolledBack = Cause.failureOption(cause)
            if (Option.isSome(rolledBack) && rolledBack.value instanceof RolledBack) {
              return Effect.failCause((rolledBack.value.exit as Exit.Failure<unknown, unknown>).cause)
            }
            return Effect.failCause(cause)
          })
        )
      })
      // Failures are the effect's own (a rolled-back attempt); storage trouble stops the execution instead.
      const attempted = once as Effect.Effect<unknown, E | StepTimeout, Exclude<R, StepContext>>
      const started = yield* Clock.currentTimeMillis
      const exit = yield* (options?.retry === undefined ? attempted : Effect.retry(attempted, options.retry)).pipe(
        Effect.exit
      )
      if (Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)) return yield* Effect.interrupt
      yield* recordDuration(started)
      yield* Effect.annotateCurrentSpan({ replayed: false, attempt: attempts })
      if (Exit.isSuccess(exit)) return yield* replay(exit.value)
      // The effect failed and its writes were rolled back: record the failure, on its own.
      return yield* record(exit as Exit.Failure<A, E | StepTimeout>, attempts)
    }))
