import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import * as Beacon from "./beacon.js"

/**
 * In-process wake-ups between the client, the registry and the runners of one Layer: a start or a
 * completion nudges the runner at once instead of waiting for its next poll. Across processes the
 * runner's polling (and on PostgreSQL, notifications) takes over.
 *
 * @internal
 */
export class Signals extends Context.Tag("@gatehouse/engine/internal/Signals")<Signals, {
  /** Something may be claimable: a run started or woke, a slot freed, a workflow registered. */
  readonly work: Beacon.Beacon
  /** Some run changed state: waiters on results and `settle` look again. */
  readonly changes: Beacon.Beacon
  /** Runs canceled by an operator, so the runner holding one interrupts it. */
  readonly canceled: PubSub.PubSub<string>
}>() {}

/** @internal */
export const layer: Layer.Layer<Signals> = Layer.effect(
  Signals,
  Effect.gen(function*() {
    return {
      work: Beacon.make(),
      changes: Beacon.make(),
      canceled: yield* PubSub.unbounded<string>()
    }
  })
)
