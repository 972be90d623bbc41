/**
 * Handlers of the audit group.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
import { Audit, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { type Authentication, CurrentPrincipal } from "../Authentication.js"
import { GatehouseApi } from "../GatehouseApi.js"
import { requireOperator, requireRunReader } from "../internal/access.js"
import { storage } from "../internal/http.js"

/**
 * @since 0.1.0
 * @category layers
 */
export const AuditLive: Layer.Layer<
  ApiGroup<"gatehouse", "audit">,
  never,
  Workflows.Workflows | Audit.Audit | Authentication
> = HttpApiBuilder.group(GatehouseApi, "audit", (handlers) =>
  Effect.gen(function*() {
    const workflows = yield* Workflows.Workflows
    const audit = yield* Audit.Audit
    return handlers
      .handle("forRun", ({ path }) =>
        Effect.gen(function*() {
          yield* requireRunReader(yield* CurrentPrincipal, yield* workflows.poll(path.runId))
          return { runId: path.runId, entries: yield* audit.forRun(path.runId) }
        }).pipe(storage))
      .handle("verify", () =>
        Effect.gen(function*() {
          yield* requireOperator(yield* CurrentPrincipal)
          return yield* audit.verify
        }).pipe(storage))
  }))
