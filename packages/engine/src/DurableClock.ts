/**
 * Durable timers. A sleep is persisted with its deadline; the run suspends and a runner replays it when
 * the deadline passes, in this process or any other. Time comes from Effect's `Clock`, so `TestClock`
 * drives it in tests.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Instance from "./internal/instance.js"
import * as Run from "./Run.js"
import { WorkflowInstance } from "./WorkflowInstance.js"

/**
 * Sleeps durably for `duration` under the node id `id`. The deadline is fixed the first time the node
 * is reached; replays do not move it. A duration whose deadline cannot be stored (`Duration.infinity`,
 * anything past `Number.MAX_SAFE_INTEGER` epoch milliseconds) fails the run with `InvalidNode`.
 *
 * @example
 * ```ts
 * import { DurableClock } from "@gatehouse/engine"
 *
 * const coolDown = DurableClock.sleep("cool-down", "1 day")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const sleep = (id: string, duration: Duration.DurationInput): Effect.Effect<void, never, WorkflowInstance> =>
  Effect.flatMap(WorkflowInstance, (instance) => Instance.node(instance, Effect.gen(function*() {
    const recorded = yield* Instance.lookup(instance, id, "clock")
    if (recorded._tag === "Some" && recorded.value.status === "completed") return
    const now = yield* Clock.currentTimeMillis
    let node = recorded._tag === "Some" ? recorded.value : undefined
    if (node === undefined) {
      const fireAt = Instance.deadlineAfter(now, Duration.toMillis(Duration.decode(duration)))
      if (typeof fireAt === "string") {
        return yield* Instance.failFatal(instance, new Run.InvalidNode({ runId: instance.runId, nodeId: id, reason: fireAt }))
      }
      node = yield* Instance.ensure(instance, { nodeId: id, kind: "clock", status: "waiting", fireAt })
    }
    if (node.status === "completed") return
    const fireAt = node.fireAt ?? now
    if (now >= fireAt) {
      yield* Instance.checkpoint(instance, { nodeId: id, kind: "clock", status: "completed", fireAt })
      return
    }
    return yield* Instance.suspend(instance, { wakeAt: fireAt })
  })))
