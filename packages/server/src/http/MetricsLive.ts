/**
 * Handler of the metrics group.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
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
export const MetricsLive: Layer.Layer<ApiGroup<"gatehouse", "metrics">, never, Prometheus | Authentication> =
  HttpApiBuilder.group(GatehouseApi, "metrics", (handlers) =>
    Effect.gen(function*() {
      const prometheus = yield* Prometheus
      return handlers.handle("prometheus", () =>
        Effect.gen(function*() {
          const principal = yield* CurrentPrincipal
          if (!isOperator(principal) && !principal.roles.includes(metricsRole)) {
            return yield* new Forbidden({ principal: principal.id, reason: "metrics need the operator or metrics role" })
          }
          return yield* prometheus.scrape
        }))
    }))
