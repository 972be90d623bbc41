/**
 * A durable deferred: a value a workflow waits for that arrives from outside the run (a webhook, an
 * operator, another system). While it waits the run is suspended and nothing of it is in memory; the
 * completion makes the run runnable and the await returns on replay.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { decodeExit, exitSchema, type ExitSchema, formatError } from "./internal/codec.js"
import { declared, invalidCompletion, jsonSchemaOf } from "./internal/deferreds.js"
import * as Instance from "./internal/instance.js"
import { jsonProblem, stringProblem } from "./internal/json.js"
import * as Run from "./Run.js"
import type { StorageError } from "./StorageError.js"
import { WorkflowInstance } from "./WorkflowInstance.js"
import { type NodeKindMismatch, Workflows } from "./Workflows.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface DurableDeferred<A, E = never> {
  readonly name: string
  readonly successSchema: Schema.Schema<A, any>
  readonly errorSchema: Schema.Schema<E, any>
  readonly exitSchema: ExitSchema
}

/**
 * Declares a deferred. Its name is the id of its node in the run's journal.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <A = void, E = never>(
  name: string,
  options?: {
    readonly success?: Schema.Schema<A, any> | undefined
    readonly error?: Schema.Schema<E, any> | undefined
  }
): DurableDeferred<A, E> => {
  const successSchema = (options?.success ?? Schema.Void) as Schema.Schema<A, any>
  const errorSchema = (options?.error ?? Schema.Never) as Schema.Schema<E, any>
  const deferred = { name, successSchema, errorSchema, exitSchema: exitSchema(successSchema, errorSchema) }
  declared.set(name, deferred)
  return deferred
}

const awaitDeferred = <A, E>(self: DurableDeferred<A, E>): Effect.Effect<A, E, WorkflowInstance> =>
  Effect.flatMap(WorkflowInstance, (instance) => Instance.node(instance, Effect.gen(function*() {
    const recorded = yield* Instance.lookup(instance, self.name, "deferred")
    const node = recorded._tag === "Some" && recorded.value.status === "completed"
      ? recorded.value
      : yield* Instance.ensure(instance, {
        nodeId: self.name,
        kind: "deferred",
        status: "waiting",
        // Stored with the node: a process without this code validates an outside completion with it.
        jsonSchema: jsonSchemaOf(self)
      })
    if (node.status === "completed") return yield* Effect.flatten(decodeExit(self.exitSchema, node.exit))
    return yield* Instance.suspend(instance)
  })))

export {
  /**
   * Waits for the deferred inside a workflow. If it has not been completed, the run suspends here and
   * is replayed once it is.
   *
   * @since 0.1.0
   * @category combinators
   */
  awaitDeferred as await
}

/**
 * Completes a run's deferred from outside the run. The exit is validated against the deferred's
 * schemas before anything is stored, and must encode to JSON that round-trips unchanged (`NaN`, a
 * `Date` without a schema that encodes it… are `InvalidPayload`). The first completion wins; later ones return `already-completed`.
 * Address the deferred itself (`{ runId, deferred }`), or by name (`{ runId, name }`) when it is declared
 * in this process with `DurableDeferred.make`.
 *
 * @example
 * ```ts
 * import { DurableDeferred } from "@gatehouse/engine"
 * import { Exit, Schema } from "effect"
 *
 * const Shipped = DurableDeferred.make("shipped", { success: Schema.Struct({ trackingId: Schema.String }) })
 *
 * // in a webhook handler
 * const onShipped = (runId: string, trackingId: string) =>
 *   DurableDeferred.complete({ runId, deferred: Shipped }, Exit.succeed({ trackingId }))
 * ```
 *
 * @since 0.1.0
 * @category completion
 */
export const complete: {
  <A, E>(
    target: { readonly runId: string; readonly deferred: DurableDeferred<A, E> },
    exit: Exit.Exit<A, E>
  ): Effect.Effect<
    "completed" | "already-completed",
    Run.InvalidPayload | Run.RunNotFound | Run.RunNotActive | NodeKindMismatch | StorageError,
    Workflows
  >
  (
    target: { readonly runId: string; readonly name: string },
    exit: Exit.Exit<unknown, unknown>
  ): Effect.Effect<
    "completed" | "already-completed",
    Run.InvalidPayload | Run.RunNotFound | Run.RunNotActive | NodeKindMismatch | StorageError,
    Workflows
  >
} = (
  target: { readonly runId: string; readonly deferred: DurableDeferred<any, any> } | {
    readonly runId: string
    readonly name: string
  },
  exit: Exit.Exit<unknown, unknown>
) =>
  Effect.gen(function*() {
    const deferred: DurableDeferred<any, any> | undefined = "deferred" in target ? target.deferred : declared.get(target.name)
    if (deferred === undefined) {
      return yield* invalidCompletion(
        (target as { readonly name: string }).name,
        "no deferred of that name is declared in this process; pass { runId, deferred } instead"
      )
    }
    const runIdProblem = stringProblem(target.runId)
    if (runIdProblem !== undefined) {
      return yield* invalidCompletion(deferred.name, `runId ${runIdProblem}`)
    }
    const encoded = yield* Schema.encodeUnknown(deferred.exitSchema)(exit).pipe(
      Effect.mapError((error) => invalidCompletion(deferred.name, formatError(error)))
    )
    // Stored as JSON and decoded on replay: it must come back exactly as encoded.
    const problem = jsonProblem(encoded, { undefinedProperties: "absent" })
    if (problem !== undefined) {
      return yield* invalidCompletion(deferred.name, `the completion is not JSON: ${problem}`)
    }
    const workflows = yield* Workflows
    return yield* workflows.completeDeferred({ runId: target.runId, name: deferred.name, exit: encoded })
  })

/**
 * Completes the deferred with a value.
 *
 * @since 0.1.0
 * @category completion
 */
export const succeed = <A, E>(
  target: { readonly runId: string; readonly deferred: DurableDeferred<A, E> },
  value: A
) => complete(target, Exit.succeed(value))

/**
 * Completes the deferred with a failure the workflow sees as the await's error.
 *
 * @since 0.1.0
 * @category completion
 */
export const fail = <A, E>(
  target: { readonly runId: string; readonly deferred: DurableDeferred<A, E> },
  error: E
) => complete(target, Exit.fail(error))
