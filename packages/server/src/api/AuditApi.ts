/**
 * The audit group: a run's hash-chained audit entries, and the verification of the whole chain.
 *
 * @since 0.1.0
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Audit, Run } from "@gatehouse/engine"
import * as Schema from "effect/Schema"
import { PathSegment } from "../internal/pathSegment.js"
import { Authentication } from "../Authentication.js"
import { Forbidden, StorageUnavailable } from "./Errors.js"

const runId = HttpApiSchema.param("runId", PathSegment)

/**
 * @since 0.1.0
 * @category models
 */
export const RunAudit = Schema.Struct({
  runId: Schema.String,
  entries: Schema.Array(Audit.Entry)
})

/**
 * The outcome of `Audit.verify`. The engine's own `Audit.Verification`.
 *
 * @since 0.1.0
 * @category models
 */
export const Verification: typeof Audit.Verification = Audit.Verification

/**
 * @since 0.1.0
 * @category groups
 */
export class AuditApi extends HttpApiGroup.make("audit")
  .add(
    HttpApiEndpoint.get("forRun")`/v1/runs/${runId}/audit`
      .addSuccess(RunAudit)
      .addError(Run.RunNotFound, { status: 404 })
      .annotate(OpenApi.Summary, "The audit entries of one run, oldest first")
  )
  .add(
    HttpApiEndpoint.get("verify", "/v1/audit/verify")
      .addSuccess(Verification)
      .annotate(OpenApi.Summary, "Walk the hash chain and report the first edited or missing entry")
  )
  .addError(Forbidden)
  .addError(StorageUnavailable)
  .middleware(Authentication)
{}
