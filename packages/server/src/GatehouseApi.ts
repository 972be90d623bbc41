/**
 * The HTTP API of Gatehouse, as one `HttpApi` definition shared by the server, the CLI and tests
 * (`HttpApiClient.make(GatehouseApi)`). It has no Node imports.
 *
 * @example
 * ```ts
 * import { HttpApiClient } from "@effect/platform"
 * import { GatehouseApi } from "@gatehouse/server"
 * import { Effect } from "effect"
 *
 * const inbox = Effect.gen(function*() {
 *   const client = yield* HttpApiClient.make(GatehouseApi.GatehouseApi, { baseUrl: "http://127.0.0.1:8080" })
 *   return yield* client.approvals.inbox({ urlParams: {} })
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as OpenApi from "@effect/platform/OpenApi"
import { ApprovalsApi } from "./api/ApprovalsApi.js"
import { BadRequest, PayloadTooLarge } from "./api/Errors.js"
import { AuditApi } from "./api/AuditApi.js"
import { DeferredsApi } from "./api/DeferredsApi.js"
import { EventsApi } from "./api/EventsApi.js"
import { HealthApi } from "./api/HealthApi.js"
import { MetricsApi } from "./api/MetricsApi.js"
import { PolicyApi } from "./api/PolicyApi.js"
import { RunsApi } from "./api/RunsApi.js"
import { portableComponentNames } from "./internal/openApiNames.js"

/**
 * @since 0.1.0
 * @category api
 */
export class GatehouseApi extends HttpApi.make("gatehouse")
  .add(ApprovalsApi)
  .add(RunsApi)
  .add(DeferredsApi)
  .add(EventsApi)
  .add(AuditApi)
  .add(PolicyApi)
  .add(HealthApi)
  .add(MetricsApi)
  .addError(BadRequest)
  .addError(PayloadTooLarge)
  .annotate(OpenApi.Title, "Gatehouse")
  .annotate(OpenApi.Version, "0.1.0")
  .annotate(OpenApi.Description, "Durable workflows with human approvals: inbox, decisions, runs, events and audit")
  .annotate(OpenApi.Transform, portableComponentNames)
{}
