import { assert, describe, it } from "@effect/vitest"
import * as Notifications from "@gatehouse/scratchpad/notifications"
import { GatehouseTest, WebhookDispatcher } from "@gatehouse/engine"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"

describe("scratchpad notifications example", () => {
  it.effect("signed webhooks to a system, a chat message with links to the reviewer, approved from the link", () =>
    Effect.gen(function*() {
      const outcome = yield* Notifications.scenario
      assert.deepStrictEqual(outcome, {
        erp: [
          { type: "run.started", verified: true },
          { type: "approval.requested", verified: true },
          { type: "approval.decided", verified: true },
          { type: "run.completed", verified: true }
        ],
        chat: ["Approve 380 EUR of expenses for Jon?", "Decided: Approve 380 EUR of expenses for Jon?"],
        buttons: ["Approve", "Deny", "Open"],
        link: { reviewer: "maria", verdict: "approve" },
        result: "reimbursed by decision of maria"
      })
    }).pipe(Effect.provide(GatehouseTest.layer(Notifications.ExpenseLive))), { timeout: 60_000 })

  it.effect("a reminder a day after the request while it waits (TestClock)", () =>
    Effect.gen(function*() {
      const dispatcher = yield* Layer.build(WebhookDispatcher.layerManualFetch()).pipe(
        Effect.map(Context.get(WebhookDispatcher.WebhookDispatcher))
      )
      yield* Notifications.Expense.start({ id: "EXP-43", amount: 90, employee: "Ada" })
      yield* GatehouseTest.settle
      yield* TestClock.adjust("1 day")
      assert.strictEqual((yield* dispatcher.drain).reminders, 1)
      yield* TestClock.adjust("1 day")
      assert.strictEqual((yield* dispatcher.drain).reminders, 1)
      yield* TestClock.adjust("1 day")
      assert.strictEqual((yield* dispatcher.drain).reminders, 0, "none at the deadline")
    }).pipe(Effect.scoped, Effect.provide(GatehouseTest.layer(Notifications.ExpenseLive))), { timeout: 60_000 })
})
