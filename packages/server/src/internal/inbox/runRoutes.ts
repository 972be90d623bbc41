/**
 * A run's page: its timeline and audit entries, for operators, whoever started it, and whoever may read one
 * of its approvals.
 */
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { isOperator } from "../../Authentication.js"
import { mayReadApproval } from "../access.js"
import { type InboxEnv, principalOf, signedIn } from "./env.js"
import { NotVisible, recover } from "./errors.js"
import { page } from "./responses.js"
import { runPage } from "./runPage.js"

/** `GET /inbox/runs/:runId`. */
export const register = (router: HttpApiBuilder.Router["Type"], env: InboxEnv) =>
  router.get(
    "/inbox/runs/:runId",
    recover(signedIn(env, (viewer) =>
      Effect.gen(function*() {
        const runId = (yield* HttpRouter.params).runId ?? ""
        const inspection = yield* env.workflows.inspect(runId)
        const principal = principalOf(viewer)
        let allowed = isOperator(principal) || inspection.run.startedBy === viewer.id
        for (const node of inspection.nodes) {
          if (allowed) break
          if (node.kind !== "approval") continue
          const approval = yield* Effect.option(env.approvals.get({ runId, nodeId: node.nodeId }))
          if (Option.isSome(approval) && mayReadApproval(principal, approval.value)) allowed = true
        }
        if (!allowed) return yield* new NotVisible({ viewer })
        const { audit, verification } = yield* env.auditOf(runId)
        return page(runPage({ viewer, inspection, audit, verification, now: yield* Clock.currentTimeMillis }))
      })))
  )
