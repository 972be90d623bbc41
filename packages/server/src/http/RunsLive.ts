/**
 * Handlers of the runs group: each one calls `Workflows` with the authenticated principal.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
import { Approvals, Waiting, WorkflowRegistry, Workflows } from "@gatehouse/engine"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type Authentication, CurrentPrincipal } from "../Authentication.js"
import { GatehouseApi } from "../GatehouseApi.js"
import { requireOperator, requireRunReader, requireStarter } from "../internal/access.js"
import { defined, storage } from "../internal/http.js"

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
      // The engine's registry of this process, when it has one: what a start by name can start.
      const registry = yield* Effect.serviceOption(WorkflowRegistry.WorkflowRegistry)
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
        .handle("resume", ({ path, payload }) =>
          Effect.gen(function*() {
            const principal = yield* CurrentPrincipal
            yield* requireOperator(principal)
            return yield* workflows.resume({ runId: path.runId, by: principal.id, reason: payload.reason })
          }).pipe(storage))
        .handle("fork", ({ path, payload }) =>
          Effect.gen(function*() {
            const principal = yield* CurrentPrincipal
            yield* requireOperator(principal)
            // A new payload is validated with the workflow's schema, from the engine's registry of this process.
            return yield* workflows.fork({
              runId: path.runId,
              by: principal.id,
              reason: payload.reason,
              ...defined({ fromNode: payload.fromNode, payload: payload.payload })
            }).pipe(
              Option.isSome(registry) ? Effect.provideService(WorkflowRegistry.WorkflowRegistry, registry.value) : (effect) => effect
            )
          }).pipe(storage))
        .handle("start", ({ headers, path, payload }) =>
          Effect.gen(function*() {
            const principal = yield* CurrentPrincipal
            yield* requireStarter(principal)
            // Validation, idempotency key, run id and policy: the engine's, exactly as `MyWorkflow.start`.
            return yield* Workflows.startByName(path.name, payload.payload, {
              startedBy: principal.id,
              roles: principal.roles,
              labels: payload.labels,
              idempotencyKey: headers["idempotency-key"]
            }).pipe(
              Effect.provideService(Workflows.Workflows, workflows),
              Option.isSome(registry) ? Effect.provideService(WorkflowRegistry.WorkflowRegistry, registry.value) : (effect) => effect,
              // 429 says when to come back.
              Effect.tapErrorTag("Throttled", (throttled) =>
                Effect.flatMap(Clock.currentTimeMillis, (now) =>
                  HttpApp.appendPreResponseHandler((_request, response) =>
                    Effect.succeed(
                      HttpServerResponse.setHeader(response, "retry-after", String(Math.max(1, Math.ceil((throttled.retryAt - now) / 1000))))
                    )
                  ))),
              Effect.map((started) =>
                started.created
                  ? { runId: started.runId, workflow: started.workflow, created: true as const }
                  : { runId: started.runId, workflow: started.workflow, created: false as const }
              )
            )
          }).pipe(storage))
    }))
