/**
 * Handlers of the policy group. Reading or changing the policy is an operator's job; a run's evaluations
 * are readable by whoever may read the run.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
import { Policies, Policy, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { type Authentication, CurrentPrincipal } from "../Authentication.js"
import { GatehouseApi } from "../GatehouseApi.js"
import { requireOperator, requireRunReader } from "../internal/access.js"
import { storage } from "../internal/http.js"

const operator = Effect.flatMap(CurrentPrincipal, requireOperator)

/**
 * @since 0.1.0
 * @category layers
 */
export const PolicyLive: Layer.Layer<
  ApiGroup<"gatehouse", "policy">,
  never,
  Policies.Policies | Workflows.Workflows | Authentication
> = HttpApiBuilder.group(GatehouseApi, "policy", (handlers) =>
  Effect.gen(function*() {
    const policies = yield* Policies.Policies
    const workflows = yield* Workflows.Workflows
    return handlers
      .handle("show", () =>
        operator.pipe(
          Effect.zipRight(policies.active),
          Effect.map(Option.match({ onNone: () => ({}), onSome: (policy) => ({ policy }) })),
          storage
        ))
      .handle("activate", ({ payload }) =>
        Effect.gen(function*() {
          const principal = yield* CurrentPrincipal
          yield* requireOperator(principal)
          return yield* policies.activate(payload.document, { by: principal.id })
        }).pipe(storage))
      .handle("history", () => operator.pipe(Effect.zipRight(policies.history()), storage))
      .handle("validate", ({ payload }) =>
        operator.pipe(
          Effect.zipRight(Policy.decode(payload.document)),
          Effect.map((policy) => ({
            snapshotId: policy.snapshotId,
            version: policy.document.version,
            rules: policy.document.rules.length
          }))
        ))
      .handle("explain", ({ payload }) =>
        operator.pipe(
          Effect.zipRight(policies.explain(payload.action)),
          Effect.map(Option.match({ onNone: () => ({}), onSome: (evaluation) => ({ evaluation }) })),
          storage
        ))
      .handle("simulate", ({ payload }) => operator.pipe(Effect.zipRight(policies.simulate(payload.document, payload.action))))
      .handle("backtest", ({ payload }) =>
        operator.pipe(
          Effect.zipRight(policies.backtest(payload.document, { days: payload.days, limit: payload.limit })),
          storage
        ))
      .handle("evaluations", ({ path }) =>
        Effect.gen(function*() {
          yield* requireRunReader(yield* CurrentPrincipal, yield* workflows.poll(path.runId))
          return yield* policies.evaluations(path.runId)
        }).pipe(storage))
  }))
