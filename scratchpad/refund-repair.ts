/**
 * Repairing a run without asking the reviewer twice (`docs/repair.md`).
 *
 * A refund is approved, then `pay` fails because the payment provider is down. The provider comes back;
 * an operator resumes the run: the refund is paid once (the provider sees the same idempotency key on the
 * retry), and the reviewer is not asked again. Then the same with the amount changed in the meantime: the
 * reviewer is asked again, and sees the earlier decision and why it no longer holds. Run it with
 * `npm run example scratchpad/refund-repair.ts` (SQLite in a temp file).
 */
import { Approval, Approvals, GatehouseTest, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { isMain, runExample } from "./run.js"

/** A stand-in for a payment provider that goes down, and honours idempotency keys as real ones do. */
export const Provider = {
  up: false,
  payments: new Map<string, number>(),
  /** What the refund is worth now, when it changes after the decision (a recalculated quote). */
  quotes: new Map<string, number>(),
  pay(key: string, amount: number) {
    return Effect.suspend(() => {
      if (!Provider.up) return Effect.fail(new ProviderDown())
      if (!Provider.payments.has(key)) Provider.payments.set(key, amount)
      return Effect.succeed(Provider.payments.get(key)!)
    })
  }
}

export class ProviderDown extends Schema.TaggedError<ProviderDown>()("ProviderDown", {}) {}

export const Refund = Workflow.make({
  name: "refund-repair",
  payload: Schema.Struct({ ticketId: Schema.String, amount: Schema.Number }),
  success: Schema.Number,
  error: ProviderDown,
  idempotencyKey: (payload) => payload.ticketId
})

export const RefundLive = Refund.toLayer(({ amount, ticketId }) =>
  Effect.gen(function*() {
    const due = Provider.quotes.get(ticketId) ?? amount
    yield* Approval.request("approve-refund", {
      title: `Refund ${due} on ${ticketId}?`,
      metadata: { ticketId, amount: due },
      reviewers: { users: ["ana"] },
      validFor: "7 days"
    })
    return yield* Step.run(
      "pay",
      Effect.flatMap(Step.idempotencyKey, (key) => Provider.pay(key, due)),
      { success: Schema.Number, error: ProviderDown }
    )
  })
)

const approveAndFail = (ticketId: string, amount: number) =>
  Effect.gen(function*() {
    const runId = yield* Refund.start({ ticketId, amount })
    yield* GatehouseTest.settle
    yield* (yield* Approvals.Approvals).decide({ runId, nodeId: "approve-refund", verdict: "approve", by: "ana" })
    const failed = yield* (yield* Workflows.Workflows).result(runId)
    return { runId, failed: failed.status }
  })

export const scenario = Effect.gen(function*() {
  const workflows = yield* Workflows.Workflows
  const approvals = yield* Approvals.Approvals

  // 1. Approved, the provider is down: the run fails. The provider comes back; an operator resumes.
  Provider.up = false
  const first = yield* approveAndFail("T-1", 40)
  Provider.up = true
  yield* workflows.resume({ runId: first.runId, by: "ops", reason: "the provider is back" })
  const paid = yield* workflows.result(first.runId)

  // 2. The same, but the refund is worth 45 by the time it is resumed: the reviewer is asked again.
  Provider.up = false
  const second = yield* approveAndFail("T-2", 40)
  Provider.up = true
  Provider.quotes.set("T-2", 45)
  yield* workflows.resume({ runId: second.runId, by: "ops", reason: "the provider is back" })
  yield* GatehouseTest.settle
  const askedAgain = yield* approvals.get({ runId: second.runId, nodeId: "approve-refund" })
  yield* approvals.decide({ runId: second.runId, nodeId: "approve-refund", verdict: "approve", by: "ana" })
  const paidAgain = yield* workflows.result(second.runId)

  return {
    first: { failed: first.failed, then: paid.status, result: paid.result },
    second: {
      failed: second.failed,
      askedAgain: askedAgain.status,
      previous: askedAgain.previous === undefined
        ? undefined
        : { status: askedAgain.previous.status, decidedBy: askedAgain.previous.decidedBy, reasons: askedAgain.previous.reasons },
      then: paidAgain.status,
      result: paidAgain.result
    },
    payments: Object.fromEntries([...Provider.payments.values()].map((amount, i) => [`payment-${i + 1}`, amount]))
  }
})

if (isMain(import.meta.url)) runExample(RefundLive, scenario)
