/**
 * The workflows this server can start over HTTP (`POST /v1/workflows/{name}/runs`): their definitions,
 * whose payload schemas validate a start and whose idempotency keys derive the run id.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import type * as Schema from "effect/Schema"

/**
 * What the server needs of a workflow definition (`Workflow.make(...)`) to start it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Startable {
  readonly name: string
  readonly payloadSchema: Schema.Schema.Any
  readonly idempotencyKey: ((payload: any) => string) | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class StartableWorkflows extends Context.Reference<StartableWorkflows>()(
  "@gatehouse/server/StartableWorkflows",
  { defaultValue: (): ReadonlyMap<string, Startable> => new Map() }
) {}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (workflows: ReadonlyArray<Startable>): Layer.Layer<StartableWorkflows> =>
  Layer.succeed(StartableWorkflows, new Map(workflows.map((workflow) => [workflow.name, workflow])))
