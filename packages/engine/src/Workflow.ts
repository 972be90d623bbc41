/**
 * Defining a workflow: a name, the schemas of its payload, result and error, and how to derive an
 * idempotency key from the payload. The body is an ordinary Effect program given with `toLayer`.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { createHash, randomUUID } from "node:crypto"
import { decodeExit, encodeExit, exitSchema, formatError } from "./internal/codec.js"
import { jsonProblem, stringProblem } from "./internal/json.js"
import * as PolicyGate from "./internal/policyGate.js"
import type * as Policy from "./Policy.js"
import * as Run from "./Run.js"
import type { StorageError } from "./StorageError.js"
import { type Definition, WorkflowRegistry } from "./WorkflowRegistry.js"
import { WorkflowInstance, type WorkflowInstanceShape } from "./WorkflowInstance.js"
import { type StartInput, Workflows } from "./Workflows.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Workflow<
  Name extends string,
  Payload extends Schema.Schema.Any,
  Success extends Schema.Schema.Any,
  Error extends Schema.Schema.All
> {
  readonly name: Name
  readonly payloadSchema: Payload
  readonly successSchema: Success
  readonly errorSchema: Error
  readonly idempotencyKey: ((payload: Payload["Type"]) => string) | undefined
  /**
   * The run id a start of this payload (with these options) gets, validated exactly as `start` validates
   * it (`InvalidPayload` otherwise), nothing written. With an idempotency key (the workflow's, or
   * `options.idempotencyKey`) it is the same on every call, in every process; without one it is a fresh id.
   */
  readonly runIdFor: (payload: Payload["Type"], options?: StartOptions) => Effect.Effect<Run.RunId, Run.InvalidPayload>
  /** What a start by name needs (`Workflows.startByName`); `toLayer` registers it with the body. */
  readonly definition: Definition
  /**
   * Validates the payload and persists a run, then returns its id without waiting. With an
   * `idempotencyKey`, starting the same work twice returns the same run. The encoded payload must be JSON
   * that round-trips unchanged, `startedBy` a string (at most 200 characters) and the idempotency key a
   * string, neither with NUL characters; anything else is `InvalidPayload` and nothing is written.
   */
  readonly start: (
    payload: Payload["Type"],
    options?: StartOptions
  ) => Effect.Effect<Run.RunId, Run.InvalidPayload | Policy.PolicyDenied | Policy.Throttled | StorageError, Workflows>
  /**
   * Starts many runs at once, one per payload, with the same options: every payload is validated first
   * (one invalid payload fails the call and nothing is written), then, where no policy was ever activated,
   * all runs are written in one statement and one transaction. The run ids, in the order of the payloads;
   * a payload whose idempotency key names an existing run gives that run's id. With a policy active each
   * start goes through it in order, and the first refusal fails the call (the runs before it stay started).
   */
  readonly startMany: (
    payloads: Iterable<Payload["Type"]>,
    options?: StartOptions
  ) => Effect.Effect<
    ReadonlyArray<Run.RunId>,
    Run.InvalidPayload | Policy.PolicyDenied | Policy.Throttled | StorageError,
    Workflows
  >
  /** Starts the run (or finds it) and waits for its result. */
  readonly execute: (
    payload: Payload["Type"],
    options?: StartOptions
  ) => Effect.Effect<
    Success["Type"],
    | Error["Type"]
    | Run.RunFatal
    | Run.InvalidPayload
    | Policy.PolicyDenied
    | Policy.Throttled
    | Run.RunCanceled
    | Run.RunNotFound
    | StorageError,
    Workflows
  >
  /** Waits for a run of this workflow to end, and gives back its Exit decoded with the workflow's schemas. */
  readonly result: (
    runId: string
  ) => Effect.Effect<
    Exit.Exit<Success["Type"], Error["Type"] | Run.RunFatal | Run.RunCanceled>,
    Run.RunNotFound | StorageError,
    Workflows
  >
  /** Registers the body of the workflow with the engine of the layer it is provided to. */
  readonly toLayer: <R>(
    body: (payload: Payload["Type"], instance: WorkflowInstanceShape) => Effect.Effect<Success["Type"], Error["Type"], R>
  ) => Layer.Layer<
    never,
    never,
    WorkflowRegistry | Exclude<R, WorkflowInstance> | Payload["Context"] | Success["Context"] | Error["Context"]
  >
}

/**
 * Who starts a run and in which context: `startedBy` (the actor; approvals refuse self-approval by it),
 * the actor's `roles` and `labels` (environment, channel, tenant…) that an active policy evaluates.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartOptions {
  readonly startedBy?: string | undefined
  /**
   * The idempotency key of a workflow that derives none from its payload (ignored when it does): the
   * same key finds the same run (an HTTP start's `Idempotency-Key` header).
   */
  readonly idempotencyKey?: string | undefined
  readonly roles?: ReadonlyArray<string> | undefined
  readonly labels?: Readonly<Record<string, string>> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type Any = Workflow<string, Schema.Schema.Any, Schema.Schema.Any, Schema.Schema.All>

const hash = (text: string): string => createHash("sha256").update(text).digest("hex")

/**
 * Defines a workflow.
 *
 * @example
 * ```ts
 * import { Step, Workflow } from "@gatehouse/engine"
 * import { Effect, Schema } from "effect"
 *
 * const Greet = Workflow.make({
 *   name: "greet",
 *   payload: Schema.Struct({ name: Schema.String }),
 *   success: Schema.String,
 *   idempotencyKey: (payload) => payload.name
 * })
 *
 * const GreetLive = Greet.toLayer((payload) =>
 *   Step.run("greeting", Effect.succeed(`hello ${payload.name}`), { success: Schema.String })
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <
  const Name extends string,
  Payload extends Schema.Schema.Any,
  Success extends Schema.Schema.Any = typeof Schema.Void,
  Error extends Schema.Schema.All = typeof Schema.Never
>(options: {
  readonly name: Name
  readonly payload: Payload
  readonly success?: Success | undefined
  readonly error?: Error | undefined
  readonly idempotencyKey?: ((payload: Payload["Type"]) => string) | undefined
}): Workflow<Name, Payload, Success, Error> => {
  const payloadSchema = options.payload as Schema.Schema<any, any, any>
  const successSchema = (options.success ?? Schema.Void) as Success
  const errorSchema = (options.error ?? Schema.Never) as Error
  // Stored: the body's own errors and the engine's run-ending ones; read back: those and cancellation.
  const storedExit = exitSchema(successSchema as any, Schema.Union(errorSchema as any, Run.RunFatal))
  const resultSchema = exitSchema(successSchema as any, Schema.Union(errorSchema as any, Run.RunFatal, Run.RunCanceled))

  const runIdFor = (key: string | undefined): Run.RunId =>
    Run.RunId.make(
      key === undefined
        ? `${options.name}-${randomUUID().replaceAll("-", "").slice(0, 24)}`
        : `${options.name}-${hash(`${options.name}\u0000${key}`).slice(0, 24)}`
    )

  // The run a start asks for, validated: nothing is written for a payload that fails here.
  const prepare = (payload: unknown, startOptions?: StartOptions) =>
    Effect.gen(function*() {
      const invalid = (reason: string) => new Run.InvalidPayload({ workflow: options.name, reason })
      const encoded = yield* Schema.encodeUnknown(payloadSchema)(payload).pipe(
        Effect.mapError((error) => invalid(formatError(error)))
      )
      // Stored as JSON and decoded on every replay: it must come back exactly as encoded.
      const problem = jsonProblem(encoded, { undefinedProperties: "absent" })
      if (problem !== undefined) return yield* invalid(`the encoded payload is not JSON: ${problem}`)
      const startedBy = startOptions?.startedBy
      if (startedBy !== undefined) {
        const byProblem = stringProblem(startedBy)
        if (byProblem !== undefined) return yield* invalid(`startedBy ${byProblem}`)
        if (startedBy.length > 200) return yield* invalid("startedBy is longer than 200 characters")
      }
      const idempotencyKey = yield* Effect.try({
        try: () => options.idempotencyKey !== undefined ? options.idempotencyKey(payload) : startOptions?.idempotencyKey,
        catch: (error) => invalid(`idempotencyKey threw: ${error instanceof Error ? error.message : String(error)}`)
      })
      if (idempotencyKey !== undefined) {
        const keyProblem = stringProblem(idempotencyKey)
        if (keyProblem !== undefined) return yield* invalid(`the idempotency key ${keyProblem}`)
      }
      const input: StartInput = {
        runId: runIdFor(idempotencyKey),
        workflow: options.name,
        idempotencyKey,
        payload: encoded,
        startedBy,
        labels: startOptions?.labels,
        roles: startOptions?.roles
      }
      return input
    })

  // A start by name: the payload in its encoded (JSON) form, decoded with the same schema, then the same checks.
  const definition: Definition = {
    name: options.name,
    prepare: (encodedPayload, startOptions) =>
      Schema.decodeUnknown(payloadSchema)(encodedPayload).pipe(
        Effect.mapError((error) => new Run.InvalidPayload({ workflow: options.name, reason: formatError(error) })),
        Effect.flatMap((payload) => prepare(payload, startOptions))
      ) as Effect.Effect<StartInput, Run.InvalidPayload>
  }

  const start = (payload: unknown, startOptions?: StartOptions) =>
    Effect.gen(function*() {
      const input = yield* prepare(payload, startOptions)
      yield* (yield* Workflows).start(input)
      return input.runId
    }) as Effect.Effect<Run.RunId, Run.InvalidPayload | Policy.PolicyDenied | Policy.Throttled | StorageError, Workflows>

  const startMany = (payloads: Iterable<unknown>, startOptions?: StartOptions) =>
    Effect.gen(function*() {
      // Every payload is checked before anything is written.
      const inputs = yield* Effect.forEach(payloads, (payload) => prepare(payload, startOptions))
      yield* (yield* Workflows).startMany(inputs)
      return inputs.map((input) => input.runId)
    }) as Effect.Effect<
      ReadonlyArray<Run.RunId>,
      Run.InvalidPayload | Policy.PolicyDenied | Policy.Throttled | StorageError,
      Workflows
    >

  const result = (runId: string) =>
    Effect.gen(function*() {
      const workflows = yield* Workflows
      const run = yield* workflows.result(runId)
      if (run.status === "canceled") return Exit.fail(new Run.RunCanceled({ runId, reason: run.error }))
      return yield* decodeExit(resultSchema, run.result)
    })

  const self: Workflow<Name, Payload, Success, Error> = {
    name: options.name,
    payloadSchema: options.payload,
    successSchema,
    errorSchema,
    idempotencyKey: options.idempotencyKey,
    runIdFor: (payload, startOptions) => Effect.map(prepare(payload, startOptions), (input) => input.runId),
    definition,
    start,
    startMany,
    execute: (payload, startOptions) =>
      Effect.flatMap(start(payload, startOptions), (runId) => Effect.flatten(result(runId))),
    result,
    toLayer: (body) =>
      Layer.effectDiscard(Effect.gen(function*() {
        const registry = yield* WorkflowRegistry
        const context = yield* Effect.context<any>()
        yield* registry.register({
          name: options.name,
          execute: (encodedPayload, instance) =>
            Schema.decodeUnknown(payloadSchema)(encodedPayload).pipe(
              Effect.orDieWith((error) =>
                new Error(`Stored payload of run "${instance.runId}" does not decode: ${formatError(error)}`)
              ),
              Effect.flatMap((payload) =>
                Effect.zipRight(PolicyGate.startGate(instance), Effect.suspend(() => body(payload, instance)))
              ),
              Effect.provideService(WorkflowInstance, instance),
              Effect.provide(context)
            ),
          encodeExit: (exit) => encodeExit(storedExit, exit, `Workflow "${options.name}"`),
          // The payload schema's services, as the body has them.
          definition: {
            name: options.name,
            prepare: (encodedPayload, startOptions) =>
              Effect.provide(definition.prepare(encodedPayload, startOptions), context)
          }
        })
      })) as any
  } as Workflow<Name, Payload, Success, Error>
  return self
}
