/**
 * Handlers of the deferreds group: `Workflows.completeDeferredJson`, which validates the completion
 * against the schema the run stored.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
import { Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { type Authentication, CurrentPrincipal } from "../Authentication.js"
import { GatehouseApi } from "../GatehouseApi.js"
import { requireDeferredCompleter } from "../internal/access.js"
import { storage } from "../internal/http.js"

/**
 * @since 0.1.0
 * @category layers
 */
export const DeferredsLive: Layer.Layer<ApiGroup<"gatehouse", "deferreds">, never, Workflows.Workflows | Authentication> =
  HttpApiBuilder.group(GatehouseApi, "deferreds", (handlers) =>
    Effect.gen(function*() {
      const workflows = yield* Workflows.Workflows
      return handlers.handle("complete", ({ path, payload }) =>
        Effect.gen(function*() {
          yield* requireDeferredCompleter(yield* CurrentPrincipal)
          const status = yield* workflows.completeDeferredJson({
            runId: path.runId,
            name: path.name,
            exit: "success" in payload
              ? { _tag: "Success", value: payload.success }
              : { _tag: "Failure", error: payload.failure }
          })
          return { status }
        }).pipe(storage))
    }))
