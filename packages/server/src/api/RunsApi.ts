/**
 * The runs group: list and read runs, their timeline (the journal with decisions and events), cancel
 * one, repair one (resume it in place, or fork a new run from it), and start a workflow registered in
 * this process.
 *
 * @since 0.1.0
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Policy, Run, Waiting, Workflows } from "@gatehouse/engine"
import * as Schema from "effect/Schema"
import { PathSegment } from "../internal/pathSegment.js"
import { Authentication } from "../Authentication.js"
import { BadRequest, Forbidden, StorageUnavailable } from "./Errors.js"

const runId = HttpApiSchema.param("runId", PathSegment)
const name = HttpApiSchema.param("name", PathSegment)

/**
 * No workflow of that name can be started through this server: the engine's `WorkflowRegistry` in its
 * process does not know it (404). The engine's `Run.WorkflowNotFound`.
 *
 * @since 0.1.0
 * @category errors
 */
export const WorkflowNotFound: typeof Run.WorkflowNotFound = Run.WorkflowNotFound

/**
 * @since 0.1.0
 * @category errors
 */
export type WorkflowNotFound = Run.WorkflowNotFound

/**
 * @since 0.1.0
 * @category models
 */
export const ListParams = Schema.Struct({
  status: Schema.optional(Run.RunStatus),
  workflow: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(1000))),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500)))
})

/**
 * A page of runs, newest first. (Wire schema of the engine's `RunPage`.)
 *
 * @since 0.1.0
 * @category models
 */
export const RunPage: typeof Workflows.RunPage = Workflows.RunPage

/**
 * @since 0.1.0
 * @category models
 */
export const CancelBody = Schema.Struct({
  reason: Schema.optional(Schema.String)
})

/**
 * The outcome of a cancel. The engine's own `Workflows.CancelResult`.
 *
 * @since 0.1.0
 * @category models
 */
export const CancelResponse: typeof Workflows.CancelResult = Workflows.CancelResult

/**
 * Why the run is resumed (recorded with the run, its `run.resumed` event and the audit trail). Who resumes
 * it is the authenticated principal.
 *
 * @since 0.1.0
 * @category models
 */
export const ResumeBody = Schema.Struct({
  reason: Schema.String
})

/**
 * The outcome of a resume. The engine's own `Workflows.ResumeResult`.
 *
 * @since 0.1.0
 * @category models
 */
export const ResumeResponse: typeof Workflows.ResumeResult = Workflows.ResumeResult

/**
 * A fork: why, the node of the origin's journal to run again from (from the start without one), and a
 * new payload (the origin's without one), validated by the workflow's schema.
 *
 * @since 0.1.0
 * @category models
 */
export const ForkBody = Schema.Struct({
  reason: Schema.String,
  fromNode: Schema.optional(Schema.String),
  payload: Schema.optional(Schema.Unknown)
})

/**
 * The outcome of a fork: the new run, linked to its origin. The engine's own `Workflows.ForkResult`.
 *
 * @since 0.1.0
 * @category models
 */
export const ForkResponse: typeof Workflows.ForkResult = Workflows.ForkResult

/**
 * The start of a run: the workflow's payload, validated with the workflow's schema.
 *
 * @since 0.1.0
 * @category models
 */
export const StartBody = Schema.Struct({
  payload: Schema.Unknown,
  /** Labels an active policy evaluates (environment, channel, tenant…). */
  labels: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String }))
})

/**
 * `Idempotency-Key`: for a workflow without its own idempotency key, the same key starts the same run.
 *
 * @since 0.1.0
 * @category models
 */
export const StartHeaders = Schema.Struct({
  "idempotency-key": Schema.optional(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200)))
})

/**
 * A run this request created (201).
 *
 * @since 0.1.0
 * @category models
 */
export const Started = Schema.Struct({
  runId: Schema.String,
  workflow: Schema.String,
  created: Schema.Literal(true)
}).annotations(HttpApiSchema.annotations({ status: 201 }))

/**
 * The run an earlier start with the same idempotency key created (200).
 *
 * @since 0.1.0
 * @category models
 */
export const AlreadyStarted = Schema.Struct({
  runId: Schema.String,
  workflow: Schema.String,
  created: Schema.Literal(false)
})

/**
 * @since 0.1.0
 * @category groups
 */
export class RunsApi extends HttpApiGroup.make("runs")
  .add(
    HttpApiEndpoint.get("list", "/v1/runs")
      .setUrlParams(ListParams)
      .addSuccess(RunPage)
      .addError(Workflows.InvalidRequest, { status: 400 })
      .annotate(OpenApi.Summary, "Runs, newest first")
  )
  .add(
    HttpApiEndpoint.get("get")`/v1/runs/${runId}`
      .addSuccess(Run.Summary)
      .annotate(OpenApi.Summary, "One run")
  )
  .add(
    HttpApiEndpoint.get("timeline")`/v1/runs/${runId}/timeline`
      .addSuccess(Run.Inspection)
      .annotate(OpenApi.Summary, "The run with every node of its journal and every event, in order")
  )
  .add(
    HttpApiEndpoint.get("waiting")`/v1/runs/${runId}/waiting`
      .addSuccess(Waiting.Explanation)
      .annotate(OpenApi.Summary, "What the run waits on and what would unblock it: approvals, timers, deferreds, a runner")
  )
  .add(
    HttpApiEndpoint.post("cancel")`/v1/runs/${runId}/cancel`
      .setPayload(CancelBody)
      .addSuccess(CancelResponse)
      .addError(Workflows.InvalidRequest, { status: 400 })
      .annotate(OpenApi.Summary, "Cancel a run (operators only)")
  )
  .add(
    HttpApiEndpoint.post("resume")`/v1/runs/${runId}/resume`
      .setPayload(ResumeBody)
      .addSuccess(ResumeResponse)
      .addError(Workflows.RunNotResumable, { status: 409 })
      .addError(Workflows.InvalidRequest, { status: 400 })
      .annotate(OpenApi.Summary, "Resume a failed or canceled run in place (operators only)")
      .annotate(
        OpenApi.Description,
        "Makes the run runnable again under the same id, recorded with the caller and the reason (`run.resumed`, " +
          "audit). Completed steps keep their results; a failed step runs again as a new attempt with the same " +
          "idempotency key; each approval reuses the decision it had only while it still holds (same request, same " +
          "policy outcome, within `validFor`, reviewers still allowed), otherwise it is asked again. `rerun` lists " +
          "the nodes taken out of the journal. 409 `RunNotResumable` for a run that is running, waiting or completed."
      )
  )
  .add(
    HttpApiEndpoint.post("fork")`/v1/runs/${runId}/fork`
      .setPayload(ForkBody)
      .addSuccess(ForkResponse)
      .addError(Workflows.InvalidRequest, { status: 400 })
      .addError(Run.InvalidPayload, { status: 400 })
      .addError(Run.WorkflowNotFound, { status: 404 })
      .annotate(OpenApi.Summary, "Start a new run from a run's journal, from a node on (operators only)")
      .annotate(
        OpenApi.Description,
        "Starts a new run (id `<runId>.fork-<n>`) whose journal is the origin's completed nodes before `fromNode` " +
          "(none without it): `fromNode` and everything after run again, with the origin's payload or `payload`, " +
          "validated by the workflow's schema (this server's process must know the workflow then, else 404 " +
          "`WorkflowNotFound`). Approvals before `fromNode` reuse the origin's decisions only while they still hold. " +
          "The two runs name each other (`forkedFrom`, `forks`). An unknown `fromNode` is 400 `InvalidRequest` " +
          "whose reason starts with `fromNode:`; the origin is never changed."
      )
  )
  .add(
    HttpApiEndpoint.post("start")`/v1/workflows/${name}/runs`
      .setPayload(StartBody)
      .setHeaders(StartHeaders)
      .addSuccess(Started)
      .addSuccess(AlreadyStarted)
      .addError(Run.InvalidPayload, { status: 400 })
      .addError(Policy.PolicyDenied, { status: 403 })
      .addError(Policy.Throttled, { status: 429 })
      .addError(Run.WorkflowNotFound, { status: 404 })
      .annotate(OpenApi.Summary, "Start a run of a workflow registered in this server (idempotent)")
  )
  .addError(Run.RunNotFound, { status: 404 })
  .addError(Forbidden)
  .addError(BadRequest)
  .addError(StorageUnavailable)
  .middleware(Authentication)
{}
