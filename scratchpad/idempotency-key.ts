/**
 * The idempotency-key pattern: `Step.run` is at-least-once for its effect and exactly-once for its
 * checkpoint, so a call to an outside system carries `Step.idempotencyKey`, which is the same on every
 * attempt, and the outside system deduplicates on it. A database write in the engine's own database needs
 * no key: `Step.transaction` commits it with the checkpoint.
 *
 * Here the process "dies" right after the payment provider accepted the charge and before the checkpoint
 * committed (the first attempt is cut short). The replay calls the provider again with the same key, and
 * the customer is charged once. Run it with `npm run example scratchpad/idempotency-key.ts` (SQLite in a temp file).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { GatehouseTest, Step, Workflow } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { isMain, runExample } from "./run.js"

/** A stand-in for a payment provider's API that honours idempotency keys, as real ones do. */
export const PaymentProvider = {
  charges: new Map<string, { readonly chargeId: string; readonly amount: number }>(),
  calls: 0,
  charge(key: string, amount: number) {
    return Effect.sync(() => {
      PaymentProvider.calls++
      const existing = PaymentProvider.charges.get(key)
      if (existing !== undefined) return existing
      const charge = { chargeId: `ch_${PaymentProvider.charges.size + 1}`, amount }
      PaymentProvider.charges.set(key, charge)
      return charge
    })
  }
}

export const Checkout = Workflow.make({
  name: "checkout",
  payload: Schema.Struct({ orderId: Schema.String, amount: Schema.Number }),
  success: Schema.Struct({ orderId: Schema.String, chargeId: Schema.String }),
  idempotencyKey: (payload) => payload.orderId
})

let crashOnce = true

export const CheckoutLive = Checkout.toLayer(({ amount, orderId }) =>
  Effect.gen(function*() {
    const charge = yield* Step.run(
      "charge-card",
      Effect.gen(function*() {
        const key = yield* Step.idempotencyKey
        const charge = yield* PaymentProvider.charge(key, amount)
        if (crashOnce) {
          // The process dies here: the provider charged, the checkpoint never committed.
          crashOnce = false
          return yield* Effect.interrupt
        }
        return charge
      }),
      { success: Schema.Struct({ chargeId: Schema.String, amount: Schema.Number }) }
    )
    // In the engine's own database: no key needed, the write commits with the step's checkpoint.
    yield* Step.transaction(
      "record-payment",
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO payments (order_id, charge_id, amount) VALUES (${orderId}, ${charge.chargeId}, ${amount})`
      })
    ).pipe(Effect.orDie)
    return { orderId, chargeId: charge.chargeId }
  })
)

export const scenario = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE IF NOT EXISTS payments (order_id TEXT PRIMARY KEY, charge_id TEXT NOT NULL, amount REAL NOT NULL)`
  const result = yield* Checkout.execute({ orderId: "order-42", amount: 120 })
  const payments = yield* sql`SELECT order_id, charge_id, amount FROM payments`
  yield* GatehouseTest.settle
  return {
    result,
    providerCalls: PaymentProvider.calls,
    charges: Array.from(PaymentProvider.charges.values()),
    payments
  }
})

if (isMain(import.meta.url)) runExample(CheckoutLive, scenario)
