/**
 * Handlers of the health group: liveness, and readiness as "the database answers".
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
import { Health } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { NotReady } from "../api/HealthApi.js"
import { GatehouseApi } from "../GatehouseApi.js"

/**
 * @since 0.1.0
 * @category layers
 */
export const HealthLive: Layer.Layer<ApiGroup<"gatehouse", "health">, never, Health.Health> = HttpApiBuilder
  .group(GatehouseApi, "health", (handlers) =>
    Effect.gen(function*() {
      const health = yield* Health.Health
      return handlers
        .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
        .handle("readyz", () =>
          health.ping.pipe(
            Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new NotReady({ reason: "the database did not answer in 5 seconds" }) }),
            Effect.catchTag("StorageError", () => Effect.fail(new NotReady({ reason: "the database is unreachable" }))),
            Effect.as({ status: "ready" as const })
          ))
    }))
