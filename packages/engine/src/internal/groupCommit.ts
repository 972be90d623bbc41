import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { NewNode, Store } from "./store.js"

/**
 * Shared commits: the checkpoints the runs of one runner produce at about the same time are written
 * together, one statement in one transaction, so sixteen runs finishing a step at once cost one commit
 * (one WAL flush) instead of sixteen.
 *
 * There is no waiting for a batch to fill: a checkpoint is written at once when nothing is being written,
 * and the checkpoints that arrive while a write is in flight go together in the next one. A lone run
 * therefore pays no delay, and the busier the runner, the larger its batches. Each checkpoint keeps its
 * own fence: one whose run lost its lease is not written and only its own run stops (its result is
 * `false`), the others of the batch are written. A step's continuation starts only once the write that
 * holds its checkpoint has committed (invariant 1), because the caller waits for that write's answer.
 *
 * A checkpoint made inside a transaction (a step whose effect writes in the engine's transaction) is
 * written in that transaction, directly: it must commit or roll back with the effect's writes.
 *
 * @internal
 */
export interface GroupCommit {
  readonly checkpoint: (owner: string, node: NewNode) => Effect.Effect<boolean, SqlError>
}

interface Pending {
  readonly owner: string
  readonly node: NewNode
  readonly done: Deferred.Deferred<boolean, SqlError>
}

/** @internal */
export const make = (store: Store, options: { readonly maxBatch: number }): Effect.Effect<GroupCommit, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Pending>()
    let inFlight: ReadonlyArray<Pending> = []

    const write = (batch: ReadonlyArray<Pending>) =>
      Effect.suspend(() => {
        inFlight = batch
        return store.checkpointMany(batch.map(({ node, owner }) => ({ owner, node })))
      }).pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.forEach(batch, (pending, index) =>
            Deferred.done(
              pending.done,
              Exit.map(exit, (written) => written[index] === true)
            ), { discard: true })
        ),
        Effect.ensuring(Effect.sync(() => inFlight = []))
      )

    // Stopping: what is queued or being written gets an interrupt, so no caller waits forever. Registered
    // before the writer is forked, so it runs after the writer has been interrupted.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const queued = yield* Queue.takeAll(queue)
        for (const pending of [...inFlight, ...queued]) yield* Deferred.interrupt(pending.done)
        yield* Queue.shutdown(queue)
      })
    )
    yield* Queue.takeBetween(queue, 1, options.maxBatch).pipe(
      Effect.flatMap((chunk) => write(Array.from(chunk))),
      Effect.forever,
      Effect.forkScoped
    )

    const checkpoint = (owner: string, node: NewNode): Effect.Effect<boolean, SqlError> =>
      Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
        Option.isSome(transaction)
          ? store.checkpoint(owner, node)
          : Effect.flatMap(Deferred.make<boolean, SqlError>(), (done) =>
            Queue.offer(queue, { owner, node, done }).pipe(Effect.zipRight(Deferred.await(done)))))

    return { checkpoint }
  })
