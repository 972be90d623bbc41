// The application's own test of its workflow: a week without a decision declines the refund, with the
// test kit and TestClock (no waiting).
import { assert, it } from "@effect/vitest"
import { GatehouseTest } from "@gatehouse/engine"
import { Effect, Exit, TestClock } from "effect"
import { RefundReview, RefundReviewLive } from "./workflow.mjs"

it.effect("a week without a decision declines the refund", () =>
  Effect.gen(function*() {
    const runId = yield* RefundReview.start({ ticketId: "T-1002", amount: 80 })
    yield* GatehouseTest.settle
    yield* TestClock.adjust("7 days")
    assert.deepStrictEqual(yield* RefundReview.result(runId), Exit.succeed({ refunded: 0 }))
  }).pipe(Effect.provide(GatehouseTest.layer(RefundReviewLive))))
