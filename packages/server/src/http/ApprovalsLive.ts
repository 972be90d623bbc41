/**
 * Handlers of the approvals group: each one calls `Approvals` with the authenticated principal.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
import { Approvals } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import { Forbidden } from "../api/Errors.js"
import { type Authentication, CurrentPrincipal, isOperator } from "../Authentication.js"
import { GatehouseApi } from "../GatehouseApi.js"
import { requireReviewer } from "../internal/access.js"
import { defined, parseIfMatch, setEtag, storage } from "../internal/http.js"

/**
 * @since 0.1.0
 * @category layers
 */
export const ApprovalsLive: Layer.Layer<
  ApiGroup<"gatehouse", "approvals">,
  never,
  Approvals.Approvals | Authentication
> = HttpApiBuilder.group(GatehouseApi, "approvals", (handlers) =>
  Effect.gen(function*() {
    const approvals = yield* Approvals.Approvals
    return handlers
      .handle("inbox", ({ urlParams }) =>
        Effect.gen(function*() {
          const principal = yield* CurrentPrincipal
          const self = { id: principal.id, roles: principal.roles }
          if (urlParams.reviewer !== undefined && urlParams.reviewer !== principal.id && !isOperator(principal)) {
            return yield* new Forbidden({ principal: principal.id, reason: "only operators read another reviewer's inbox" })
          }
          const reviewer = urlParams.reviewer === undefined || urlParams.reviewer === principal.id
            ? self
            : urlParams.reviewer === "*"
            ? undefined
            : urlParams.reviewer
          return yield* approvals.list(defined({ ...urlParams, reviewer }))
        }).pipe(storage))
      .handle("get", ({ path }) =>
        Effect.gen(function*() {
          const approval = yield* approvals.get(path)
          yield* requireReviewer(yield* CurrentPrincipal, approval)
          yield* setEtag(approval.requestHash)
          return approval
        }).pipe(storage))
      .handle("decide", ({ headers, path, payload }) =>
        Effect.gen(function*() {
          const principal = yield* CurrentPrincipal
          const requestHash = yield* parseIfMatch(headers["if-match"])
          const result = yield* approvals.decide({
            ...path,
            ...defined({ note: payload.note, payload: payload.payload, requestHash }),
            verdict: payload.verdict,
            by: { id: principal.id, roles: principal.roles }
          })
          yield* setEtag(result.approval.requestHash)
          return result
        }).pipe(storage))
  }))
