import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as FiberId from "effect/FiberId"

/**
 * A wake-up that cannot be missed: a waiter captures the beacon *before* it checks its condition, then
 * waits; any `notify` after the capture releases it.
 *
 * @internal
 */
export interface Beacon {
  readonly capture: Effect.Effect<Effect.Effect<void>>
  readonly notify: Effect.Effect<void>
}

/** @internal */
export const make = (): Beacon => {
  let current = Deferred.unsafeMake<void>(FiberId.none)
  return {
    capture: Effect.sync(() => Deferred.await(current)),
    notify: Effect.sync(() => {
      const previous = current
      current = Deferred.unsafeMake<void>(FiberId.none)
      Deferred.unsafeDone(previous, Effect.void)
    })
  }
}
