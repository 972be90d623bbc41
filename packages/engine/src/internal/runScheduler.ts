import type * as Fiber from "effect/Fiber"
import * as Scheduler from "effect/Scheduler"

/**
 * The scheduler every fiber of one execution of a run is resumed through: the default one, counting the
 * work it holds for the run. A fiber of the run that can go on without anything from outside (a message
 * for it, an interruption on its way, a `yieldNow`, a child forked) has a task queued here; a fiber that
 * waits for a timer, I/O or another fiber has none. So once the count is zero, with nothing of the run
 * busy, every fiber of it is waiting, and what the run waits on is final: a race just won has finished
 * interrupting its loser, a fiber just forked has reached its node.
 *
 * @internal
 */
export class RunScheduler implements Scheduler.Scheduler {
  /** Tasks of the run queued and not yet started. */
  pending = 0

  constructor(
    /** Called once the last queued task of the run has run. */
    private readonly onIdle: () => void,
    private readonly base: Scheduler.Scheduler = Scheduler.defaultScheduler
  ) {}

  shouldYield(fiber: Fiber.RuntimeFiber<unknown, unknown>): number | false {
    return this.base.shouldYield(fiber)
  }

  scheduleTask(task: Scheduler.Task, priority: number, fiber?: Fiber.RuntimeFiber<unknown, unknown>): void {
    this.pending++
    this.base.scheduleTask(() => {
      this.pending--
      task()
      if (this.pending === 0) this.onIdle()
    }, priority, fiber)
  }
}
