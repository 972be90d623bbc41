// The application's workflow, in plain JavaScript against the published @gatehouse/engine.
import { Approval, Step, Workflow } from "@gatehouse/engine"
import { Effect, Schema } from "effect"

export const RefundReview = Workflow.make({
  name: "app-refund-review",
  payload: Schema.Struct({ ticketId: Schema.String, amount: Schema.Number }),
  success: Schema.Struct({ refunded: Schema.Number }),
  idempotencyKey: (payload) => payload.ticketId
})

export const RefundReviewLive = RefundReview.toLayer(({ amount, ticketId }) =>
  Effect.gen(function*() {
    yield* Step.run("load-ticket", Effect.succeed({ ticketId }))
    const decision = yield* Approval.request("refund-decision", {
      title: `Refund ${amount} EUR?`,
      onDeny: "continue",
      timeout: "7 days",
      onTimeout: "deny",
      reviewers: { roles: ["finance"] }
    })
    return { refunded: decision.approved ? amount : 0 }
  })
)
