/**
 * Starting a workflow by its name (`Workflows.startByName`): the definition comes from the process's
 * `WorkflowRegistry` (registered by `toLayer`, or `define`), and validation, idempotency key, run id and
 * policy are exactly those of `MyWorkflow.start`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Policy from "../Policy.js"
import * as Run from "../Run.js"
import type { StorageError } from "../StorageError.js"
import type { StartOptions } from "../Workflow.js"
import { type Definition, WorkflowRegistry } from "../WorkflowRegistry.js"
import type { StartedRun, Workflows } from "../Workflows.js"

/**
 * The definition of `name` in this process's registry; `WorkflowNotFound` when there is none (or no
 * registry at all: a process with only the client services).
 *
 * @internal
 */
export const definitionOf = (name: string): Effect.Effect<Definition, Run.WorkflowNotFound> =>
  Effect.flatMap(Effect.serviceOption(WorkflowRegistry), (registry) =>
    Option.match(Option.flatMap(registry, (registry) => registry.definition(name)), {
      onNone: () => Effect.fail(new Run.WorkflowNotFound({ workflow: name })),
      onSome: Effect.succeed
    }))

/** @internal */
export const runIdFor = (
  name: string,
  payload: unknown,
  options?: StartOptions
): Effect.Effect<Run.RunId, Run.WorkflowNotFound | Run.InvalidPayload> =>
  Effect.flatMap(definitionOf(name), (definition) =>
    Effect.map(definition.prepare(payload, options), (input) => input.runId))

/** @internal */
export const startByName = (
  workflows: Workflows["Type"],
  name: string,
  payload: unknown,
  options?: StartOptions
): Effect.Effect<
  StartedRun,
  Run.WorkflowNotFound | Run.InvalidPayload | Policy.PolicyDenied | Policy.Throttled | StorageError
> =>
  Effect.gen(function*() {
    const definition = yield* definitionOf(name)
    const input = yield* definition.prepare(payload, options)
    const created = yield* workflows.start(input)
    return { runId: input.runId, workflow: input.workflow, created }
  })
