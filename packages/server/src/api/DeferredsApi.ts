/**
 * The deferreds group: complete a run's durable deferred from outside (a bank's webhook), validated
 * against the JSON Schema the run stored when it reached the deferred's `await`.
 *
 * @since 0.1.0
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Run, Workflows } from "@gatehouse/engine"
import * as Schema from "effect/Schema"
import { Authentication } from "../Authentication.js"
import { PathSegment } from "../internal/pathSegment.js"
import { BadRequest, Forbidden, StorageUnavailable } from "./Errors.js"

const runId = HttpApiSchema.param("runId", PathSegment)
const name = HttpApiSchema.param("name", PathSegment)

/**
 * The completion: `{ success: value }` resumes the await with the value, `{ failure: error }` makes it
 * fail with the error. Each is the JSON (encoded) form of the deferred's success or error schema.
 *
 * @since 0.1.0
 * @category models
 */
export const CompleteBody = Schema.Struct({
  success: Schema.optional(Schema.Unknown),
  failure: Schema.optional(Schema.Unknown)
}).pipe(
  Schema.filter((body) => ("success" in body) !== ("failure" in body) || "give exactly one of success or failure", {
    identifier: "DeferredCompletion",
    description: "{ success: value } or { failure: error }, each the JSON form of the deferred's schema"
  })
)

/**
 * Whether this request completed the deferred, or an earlier completion already had.
 *
 * @since 0.1.0
 * @category models
 */
export const CompleteResponse = Schema.Struct({
  status: Schema.Literal("completed", "already-completed")
})

/**
 * @since 0.1.0
 * @category groups
 */
export class DeferredsApi extends HttpApiGroup.make("deferreds")
  .add(
    HttpApiEndpoint.post("complete")`/v1/runs/${runId}/deferreds/${name}`
      .setPayload(CompleteBody)
      .addSuccess(CompleteResponse)
      .addError(Run.InvalidPayload, { status: 400 })
      .addError(Run.RunNotFound, { status: 404 })
      .addError(Run.RunNotActive, { status: 409 })
      .addError(Workflows.NodeKindMismatch, { status: 409 })
      .addError(Workflows.DeferredNotReady, { status: 409 })
      .annotate(OpenApi.Summary, "Complete a run's durable deferred (operators and the deferreds role)")
  )
  .addError(Forbidden)
  .addError(BadRequest)
  .addError(StorageUnavailable)
  .middleware(Authentication)
{}
