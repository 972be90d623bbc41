/**
 * Refund review: a reviewer approves a refund and may lower the amount; a denial is a normal branch
 * (`onDeny: "continue"`). Run it with `npm run example scratchpad/refund.ts`.
 */
import { Approval, Approvals, DurableDeferred, GatehouseTest, Step, Workflow } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { isMain, runExample } from "./run.js"

export const RefundOutcome = Schema.Struct({
  ticketId: Schema.String,
  refunded: Schema.Number,
  status: Schema.Literal("refunded", "declined"),
  bankReference: Schema.optional(Schema.String)
})

export const RefundReview = Workflow.make({
  name: "refund-review",
  payload: Schema.Struct({ ticketId: Schema.String, amount: Schema.Number }),
  success: RefundOutcome,
  idempotencyKey: (payload) => payload.ticketId
})

/** The bank confirms a transfer by webhook, hours later: the run waits for it durably. */
export const BankConfirmation = DurableDeferred.make("bank-confirmation", {
  success: Schema.Struct({ reference: Schema.String })
})

const Customer = Schema.Struct({ name: Schema.String, since: Schema.Number })
const Recommendation = Schema.Struct({ amount: Schema.Number, reason: Schema.String })

export const RefundReviewLive = RefundReview.toLayer(({ amount, ticketId }) =>
  Effect.gen(function*() {
    const customer = yield* Step.run("load-customer", Effect.succeed({ name: "Ada Lovelace", since: 2019 }), {
      success: Customer
    })
    const rec = yield* Step.run(
      "recommend",
      Effect.succeed({ amount, reason: amount <= 200 ? "inside the refund window" : "over the auto limit" }),
      { success: Recommendation }
    )
    const decision = yield* Approval.request("refund-decision", {
      title: `Refund ${rec.amount} EUR to ${customer.name}?`,
      summary: `Customer since ${customer.since}; ${rec.reason}.`,
      metadata: { ticketId, amount },
      reviewed: rec,
      // The inbox renders this as a number input labelled "Approved amount", between 0 and the amount asked.
      decision: Schema.Struct({
        approvedAmount: Schema.Number.pipe(Schema.between(0, amount)).annotations({ title: "Approved amount" })
      }),
      onDeny: "continue",
      timeout: "7 days",
      onTimeout: "deny",
      reviewers: { roles: ["finance"] }
    })
    if (!decision.approved) return { ticketId, refunded: 0, status: "declined" as const }
    const refunded = decision.payload?.approvedAmount ?? rec.amount
    yield* Step.run("pay", Effect.gen(function*() {
      const key = yield* Step.idempotencyKey
      yield* Effect.logInfo(`paying ${refunded} EUR with idempotency key ${key}`)
    }))
    const confirmation = yield* DurableDeferred.await(BankConfirmation)
    return { ticketId, refunded, status: "refunded" as const, bankReference: confirmation.reference }
  })
)

/** Start a refund, approve a lower amount as a finance reviewer, confirm the transfer, read the result. */
export const scenario = Effect.gen(function*() {
  const runId = yield* RefundReview.start({ ticketId: "T-1001", amount: 120 }, { startedBy: "support-desk" })
  yield* GatehouseTest.settle
  const approvals = yield* Approvals.Approvals
  const [request] = (yield* approvals.list({ reviewer: { id: "grace", roles: ["finance"] } })).approvals
  yield* approvals.decide({
    runId,
    nodeId: "refund-decision",
    verdict: "approve",
    by: { id: "grace", roles: ["finance"] },
    note: "Goodwill refund, minus shipping.",
    payload: { approvedAmount: 100 },
    requestHash: request.requestHash
  })
  yield* GatehouseTest.settle
  yield* DurableDeferred.succeed({ runId, deferred: BankConfirmation }, { reference: "BANK-7781" })
  return yield* RefundReview.execute({ ticketId: "T-1001", amount: 120 })
})

if (isMain(import.meta.url)) runExample(RefundReviewLive, scenario)
