/**
 * The registry of workflow implementations a process can execute. `Workflow.toLayer` registers into it;
 * a runner only claims runs of workflows registered here.
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
import type { WorkflowInstanceShape } from "./WorkflowInstance.js"

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
}

/**
 * @since 0.1.0
 * @category tags
 */
export class WorkflowRegistry extends Context.Tag("@gatehouse/engine/WorkflowRegistry")<WorkflowRegistry, {
  readonly register: (registration: Registration) => Effect.Effect<void>
  readonly get: (name: string) => Option.Option<Registration>
  readonly names: () => ReadonlyArray<string>
}>() {}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<WorkflowRegistry["Type"], never, Storage.Storage> = Effect.gen(function*() {
  const { signals } = yield* Storage.Storage
  const registrations = new Map<string, Registration>()
  let names: ReadonlyArray<string> = []
  return WorkflowRegistry.of({
    register: (registration) =>
      Effect.suspend(() => {
        registrations.set(registration.name, registration)
        names = Array.from(registrations.keys())
        return signals.work.notify
      }),
    get: (name) => Option.fromNullable(registrations.get(name)),
    names: () => names
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<WorkflowRegistry, never, SqlClient.SqlClient> = Layer.effect(WorkflowRegistry, make).pipe(
  Layer.provide(Storage.layer)
)
