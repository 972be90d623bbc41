/**
 * The metrics group: every engine metric and the HTTP request metrics in the Prometheus text format.
 *
 * @since 0.1.0
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import { Authentication } from "../Authentication.js"
import { Forbidden } from "./Errors.js"

/**
 * @since 0.1.0
 * @category groups
 */
export class MetricsApi extends HttpApiGroup.make("metrics")
  .add(
    HttpApiEndpoint.get("prometheus", "/metrics")
      .addSuccess(
        Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/plain; version=0.0.4" }))
      )
      .annotate(OpenApi.Summary, "Prometheus text exposition (operators and the metrics role)")
  )
  .addError(Forbidden)
  .middleware(Authentication)
{}
