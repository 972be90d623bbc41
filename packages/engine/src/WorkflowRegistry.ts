/**
 * The registry of workflow implementations a process can execute. `Workflow.toLayer` registers into it;
 * a runner only claims runs of workflows registered here. It also knows how to start each workflow by
 * name (its payload schema and idempotency key): `Workflows.startByName` starts only what it knows.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Storage from "./internal/storage.js"
import type * as Run from "./Run.js"
import type { StartOptions } from "./Workflow.js"
import type { WorkflowInstanceShape } from "./WorkflowInstance.js"
import type { StartInput } from "./Workflows.js"

/**
 * What a start by name needs of a workflow definition (`Workflow.make`): `prepare` decodes the payload
 * given in its encoded (JSON) form with the workflow's payload schema and validates it exactly as
 * `MyWorkflow.start` does (same checks, same idempotency key, same run id, same `InvalidPayload`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Definition {
  readonly name: string
  readonly prepare: (
    encodedPayload: unknown,
    options?: StartOptions
  ) => Effect.Effect<StartInput, Run.InvalidPayload>
}

/**
 * A registered implementation, erased to what the runner needs: run it on an encoded payload, and
 * encode its Exit for the journal.
 *
 * @since 0.1.0
 * @category models
 */
export interface Registration {
  readonly name: string
  readonly execute: (payload: unknown, instance: WorkflowInstanceShape) => Effect.Effect<unknown, unknown>
  readonly encodeExit: (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<unknown>
  /** How to start it by name; `toLayer` always gives it. */
  readonly definition?: Definition | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WorkflowRegistry extends Context.Tag("@gatehouse/engine/WorkflowRegistry")<WorkflowRegistry, {
  readonly register: (registration: Registration) => Effect.Effect<void>
  readonly get: (name: string) => Option.Option<Registration>
  readonly names: () => ReadonlyArray<string>
  /**
   * Makes a workflow startable by name without running it in this process (its runs are executed by
   * runners elsewhere). A definition registered with a body (`register`) is kept.
   */
  readonly define: (definition: Definition) => Effect.Effect<void>
  /** The definition of a workflow that can be started by name here. */
  readonly definition: (name: string) => Option.Option<Definition>
}>() {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<WorkflowRegistry["Type"], never, Storage.Storage> = Effect.gen(function*() {
  const { signals } = yield* Storage.Storage
  const registrations = new Map<string, Registration>()
  const definitions = new Map<string, Definition>()
  let names: ReadonlyArray<string> = []
  return WorkflowRegistry.of({
    register: (registration) =>
      Effect.suspend(() => {
        registrations.set(registration.name, registration)
        if (registration.definition !== undefined) definitions.set(registration.name, registration.definition)
        names = Array.from(registrations.keys())
        return signals.work.notify
      }),
    get: (name) => Option.fromNullable(registrations.get(name)),
    names: () => names,
    define: (definition) =>
      Effect.sync(() => {
        if (registrations.get(definition.name)?.definition === undefined) definitions.set(definition.name, definition)
      }),
    definition: (name) => Option.fromNullable(definitions.get(name))
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<WorkflowRegistry, never, SqlClient.SqlClient> = Layer.effect(WorkflowRegistry, make).pipe(
  Layer.provide(Storage.layer)
)
