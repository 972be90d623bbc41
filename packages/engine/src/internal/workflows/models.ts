/**
 * The models and errors of the client API: list and cancel options, pages, what a start persists, and the
 * errors of outside completions of deferreds. Public as `Workflows.*` (re-exported by `Workflows.ts`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { Text } from "../json.js"
import * as Run from "../../Run.js"

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

const Actor = Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200), Schema.compose(Text))
const Reason = Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(2000), Schema.compose(Text))

/**
 * Options of `resume`, validated with this schema: who resumes the run and why (both recorded).
 *
 * @since 0.1.0
 * @category models
 */
export const ResumeOptions = Schema.Struct({
  runId: Schema.NonEmptyString,
  by: Actor,
  reason: Reason
})

/**
 * @since 0.1.0
 * @category models
 */
export type ResumeOptions = typeof ResumeOptions.Type

/**
 * Options of `fork`, validated with this schema: the run to fork, the node of its journal to run again
 * from (from the start without one), who forks it and why, and a new payload (the origin's without one),
 * validated by the workflow's schema.
 *
 * @since 0.1.0
 * @category models
 */
export const ForkOptions = Schema.Struct({
  runId: Schema.NonEmptyString,
  fromNode: Schema.optional(Schema.NonEmptyString.pipe(Schema.compose(Text))),
  by: Actor,
  reason: Reason,
  payload: Schema.optional(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category models
 */
export type ForkOptions = typeof ForkOptions.Type

/**
 * The outcome of `resume`: the run, runnable again.
 *
 * @since 0.1.0
 * @category models
 */
export class ResumeResult extends Schema.Class<ResumeResult>("@gatehouse/engine/Workflows/ResumeResult")({
  status: Schema.Literal("resumed"),
  /** The nodes taken out of the journal to run again: failed steps, approvals to check, canceled waits. */
  rerun: Schema.Array(Schema.String),
  run: Run.Summary
}) {}

/**
 * The outcome of `fork`: the new run, linked to its origin.
 *
 * @since 0.1.0
 * @category models
 */
export class ForkResult extends Schema.Class<ForkResult>("@gatehouse/engine/Workflows/ForkResult")({
  runId: Run.RunId,
  run: Run.Summary
}) {}

/**
 * Only a failed or canceled run can be resumed: this one is running, waiting or completed. Nothing changed.
 *
 * @since 0.1.0
 * @category errors
 */
export class RunNotResumable extends Schema.TaggedError<RunNotResumable>("@gatehouse/engine/RunNotResumable")(
  "RunNotResumable",
  { runId: Schema.String, status: Run.RunStatus }
) {
  override get message(): string {
    return `Run "${this.runId}" is ${this.status}: only a failed or canceled run can be resumed`
  }
}
