/**
 * Liveness and readiness, without authentication.
 *
 * @since 0.1.0
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"

/**
 * The database did not answer.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotReady extends Schema.TaggedError<NotReady>("@gatehouse/server/NotReady")(
  "NotReady",
  { reason: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/**
 * @since 0.1.0
 * @category groups
 */
export class HealthApi extends HttpApiGroup.make("health")
  .add(
    HttpApiEndpoint.get("healthz", "/healthz")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ok") }))
      .annotate(OpenApi.Summary, "The process is up")
  )
  .add(
    HttpApiEndpoint.get("readyz", "/readyz")
      .addSuccess(Schema.Struct({ status: Schema.Literal("ready") }))
      .addError(NotReady)
      .annotate(OpenApi.Summary, "The database answers")
  )
{}
