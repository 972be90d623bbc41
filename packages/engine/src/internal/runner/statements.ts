/**
 * What a runner writes for the runs it executes: shared commits (`../storage/groupCommit.ts`) of their
 * checkpoints, ends and suspensions, and each run's own statements, detached from the run's fiber.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as GroupCommit from "../storage/groupCommit.js"
import type * as Storage from "../storage/storage.js"

/**
 * The shared commits, closed with the scope, and the run statements over them.
 *
 * @internal
 */
export const make = (store: Storage.RunStatements, concurrency: number) =>
  Effect.gen(function*() {
    const checkpoints = yield* GroupCommit.make({
      writeOne: ({ node, owner }: { readonly owner: string; readonly node: Storage.NewNode }) => store.checkpoint(owner, node),
      writeMany: store.checkpointMany,
      maxBatch: Math.max(16, concurrency)
    })
    const ends = yield* GroupCommit.make({
      writeOne: store.finishRun,
      writeMany: store.finishRuns,
      maxBatch: Math.max(16, concurrency)
    })
    const suspensions = yield* GroupCommit.make({
      writeOne: store.suspendRun,
      writeMany: store.suspendRuns,
      maxBatch: Math.max(16, concurrency)
    })
    /**
     * Runs an engine statement of a run in a fiber of its own that nothing interrupts: a cancel or a
     * shutdown that interrupts the run stops waiting for it, and the statement finishes in the background.
     * Interrupting it instead would make `@effect/sql-pg` cancel its connection's backend by pid, possibly
     * once that connection serves another caller (see `bounded`). A checkpoint written from the run's fiber
     * may also carry other runs' checkpoints (`internal/storage/groupCommit.ts`).
     */
    const detached = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
      Effect.flatMap(Effect.forkDaemon(Effect.uninterruptible(effect)), Fiber.join)
    const writeCheckpoint = (owner: string, node: Storage.NewNode) => detached(checkpoints.write({ owner, node }))
    // The store a run's own statements go through: each one detached.
    const runStore = Object.fromEntries(
      Object.entries(store).map(([key, value]) => [
        key,
        key === "sql" || typeof value !== "function"
          ? value
          : (...args: Array<unknown>) => detached((value as (...args: Array<unknown>) => Effect.Effect<unknown>)(...args))
      ])
    ) as unknown as Storage.RunStatements
    return { checkpoints, ends, suspensions, detached, writeCheckpoint, runStore } as const
  }) satisfies Effect.Effect<unknown, never, Scope.Scope>
