/**
 * Handlers of the runs group: each one calls `Workflows` with the authenticated principal.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
import { Approvals, Run, Waiting, Workflows } from "@gatehouse/engine"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { createHash, randomUUID } from "node:crypto"
import { WorkflowNotFound } from "../api/RunsApi.js"
import { type Authentication, CurrentPrincipal } from "../Authentication.js"
import { GatehouseApi } from "../GatehouseApi.js"
import { requireOperator, requireRunReader, requireStarter } from "../internal/access.js"
import { defined, storage } from "../internal/http.js"
import { StartableWorkflows } from "../StartableWorkflows.js"

// The engine derives a run id from the workflow name and its idempotency key this way (Workflow.make);
// an HTTP start must find the same run as `MyWorkflow.start` in code. Engine gap: no exported `runIdFor`.
const runIdFor = (workflow: string, key: string | undefined): Run.RunId =>
  Run.RunId.make(
    key === undefined
      ? `${workflow}-${randomUUID().replaceAll("-", "").slice(0, 24)}`
      : `${workflow}-${createHash("sha256").update(`${workflow}\u0000${key}`).digest("hex").slice(0, 24)}`
  )

/**
 * @since 0.1.0
 * @category layers
 */
export const RunsLive: Layer.Layer<
  ApiGroup<"gatehouse", "runs">,
  never,
  Workflows.Workflows | Approvals.Approvals | Authentication
> = HttpApiBuilder
  .group(GatehouseApi, "runs", (handlers) =>
    Effect.gen(function*() {
      const workflows = yield* Workflows.Workflows
      const approvals = yield* Approvals.Approvals
      return handlers
        .handle("list", ({ urlParams }) =>
          Effect.gen(function*() {
            yield* requireOperator(yield* CurrentPrincipal)
            return yield* workflows.list(defined(urlParams))
          }).pipe(storage))
        .handle("get", ({ path }) =>
          Effect.gen(function*() {
            const run = yield* workflows.poll(path.runId)
            yield* requireRunReader(yield* CurrentPrincipal, run)
            return run
          }).pipe(storage))
        .handle("timeline", ({ path }) =>
          Effect.gen(function*() {
            const inspection = yield* workflows.inspect(path.runId)
            yield* requireRunReader(yield* CurrentPrincipal, inspection.run)
            return inspection
          }).pipe(storage))
        .handle("waiting", ({ path }) =>
          Effect.gen(function*() {
            const explanation = yield* Waiting.explain(path.runId)
            yield* requireRunReader(yield* CurrentPrincipal, explanation.run)
            return explanation
          }).pipe(
            Effect.provideService(Approvals.Approvals, approvals),
            Effect.provideService(Workflows.Workflows, workflows),
            storage
          ))
        .handle("cancel", ({ path, payload }) =>
          Effect.gen(function*() {
            const principal = yield* CurrentPrincipal
            yield* requireOperator(principal)
            return yield* workflows.cancel(path.runId, { by: principal.id, ...defined({ reason: payload.reason }) })
          }).pipe(storage))
        .handle("start", ({ headers, path, payload }) =>
          Effect.gen(function*() {
            const principal = yield* CurrentPrincipal
            yield* requireStarter(principal)
            const workflow = (yield* StartableWorkflows).get(path.name)
            if (workflow === undefined) return yield* new WorkflowNotFound({ workflow: path.name })
            const schema = workflow.payloadSchema as Schema.Schema<unknown, unknown>
            const invalid = (error: unknown) =>
              new Run.InvalidPayload({ workflow: workflow.name, reason: String((error as Error).message ?? error) })
            const decoded = yield* Schema.decodeUnknown(schema)(payload.payload, { errors: "all" }).pipe(
              Effect.mapError(invalid)
            )
            const encoded = yield* Schema.encode(schema)(decoded).pipe(Effect.mapError(invalid))
            const key = workflow.idempotencyKey?.(decoded) ?? headers["idempotency-key"]
            const runId = runIdFor(workflow.name, key)
            const created = yield* workflows.start({
              runId,
              workflow: workflow.name,
              idempotencyKey: key,
              payload: encoded,
              startedBy: principal.id,
              roles: principal.roles,
              labels: payload.labels
            }).pipe(
              // 429 says when to come back.
              Effect.tapErrorTag("Throttled", (throttled) =>
                Effect.flatMap(Clock.currentTimeMillis, (now) =>
                  HttpApp.appendPreResponseHandler((_request, response) =>
                    Effect.succeed(
                      HttpServerResponse.setHeader(response, "retry-after", String(Math.max(1, Math.ceil((throttled.retryAt - now) / 1000))))
                    )
                  )))
            )
            return created
              ? { runId, workflow: workflow.name, created: true as const }
              : { runId, workflow: workflow.name, created: false as const }
          }).pipe(storage))
    }))
