/**
 * The context a workflow body runs in: which run is being replayed, and the journal the durable nodes
 * (`Step`, `DurableDeferred`, `DurableClock`, `Approval`) read and write.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Run from "./Run.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface WorkflowInstanceShape {
  readonly runId: Run.RunId
  readonly workflow: string
  /** Who started the run, if the start said so; approvals refuse self-approval by it. */
  readonly startedBy: string | undefined
  /** How many times a runner has claimed this run, this execution included. */
  readonly claims: number
}

/**
 * Provided by the runner to a workflow body; every durable node requires it, so a node can only be
 * used inside a workflow.
 *
 * @since 0.1.0
 * @category context
 */
export class WorkflowInstance extends Context.Tag("@gatehouse/engine/WorkflowInstance")<
  WorkflowInstance,
  WorkflowInstanceShape
>() {}
