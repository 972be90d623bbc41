/**
 * Handler of the metrics group.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
import { Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { Forbidden } from "../api/Errors.js"
import { type Authentication, CurrentPrincipal, isOperator, metricsRole } from "../Authentication.js"
import { GatehouseApi } from "../GatehouseApi.js"
import { Prometheus } from "../Metrics.js"

/**
 * @since 0.1.0
 * @category layers
 */
export const MetricsLive: Layer.Layer<ApiGroup<"gatehouse", "metrics">, never, Prometheus | Workflows.Workflows | Authentication> =
  HttpApiBuilder.group(GatehouseApi, "metrics", (handlers) =>
    Effect.gen(function*() {
      const prometheus = yield* Prometheus
      const workflows = yield* Workflows.Workflows
      return handlers.handle("prometheus", () =>
        Effect.gen(function*() {
          const principal = yield* CurrentPrincipal
          if (!isOperator(principal) && !principal.roles.includes(metricsRole)) {
            return yield* new Forbidden({ principal: principal.id, reason: "metrics need the operator or metrics role" })
          }
          // Runs by status are counted now, for this scrape (one GROUP BY); a database that cannot answer
          // leaves the last count and the rest of the metrics are still served.
          yield* workflows.refreshMetrics.pipe(
            Effect.catchAll((error) => Effect.logWarning("could not count runs for /metrics", error))
          )
          return yield* prometheus.scrape
        }))
    }))
