import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"

/**
 * Shared commits: writes of the same kind that the runs of one runner make at about the same time (their
 * checkpoints, their suspensions, their ends) are written together, one statement in one transaction, so
 * sixteen runs finishing a step at once cost one commit (one WAL flush) instead of sixteen.
 *
 * There is no waiting for a batch to fill: a write goes out at once when nothing of its kind is being
 * written, and the writes that arrive while one is in flight go together in the next. A lone run
 * therefore pays no delay, and the busier the runner, the larger its batches. Each write keeps its own
 * fence and gets its own answer: one whose run lost its lease is not written and only its own run stops,
 * the others of the batch are written. A run goes on only once the write that holds its checkpoint has
 * committed (invariant 1), because its fiber waits for that write's answer. When the statement fails, every
 * write of the batch gets the failure, and each run is given back and replayed, as after any storage failure.
 *
 * A write made inside a transaction (a step whose effect writes in the engine's transaction) is made in
 * that transaction, alone: it must commit or roll back with the effect's writes.
 *
 * @internal
 */
export interface GroupCommit<I, O> {
  readonly write: (item: I) => Effect.Effect<O, SqlError>
}

interface Pending<I, O> {
  readonly item: I
  readonly done: Deferred.Deferred<O, SqlError>
}

/**
 * A queue of writes and the fiber that writes them in batches with `writeMany` (answers in the order of
 * the items), or with `writeOne` inside a transaction. Stopping (the scope closing) interrupts whoever
 * still waits, so no caller waits forever.
 *
 * @internal
 */
export const make = <I, O>(options: {
  readonly writeOne: (item: I) => Effect.Effect<O, SqlError>
  readonly writeMany: (items: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>, SqlError>
  readonly maxBatch: number
}): Effect.Effect<GroupCommit<I, O>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.unbounded<Pending<I, O>>()
    let inFlight: ReadonlyArray<Pending<I, O>> = []

    const writeBatch = (batch: ReadonlyArray<Pending<I, O>>) =>
      Effect.suspend(() => {
        inFlight = batch
        return batch.length === 1
          ? Effect.map(options.writeOne(batch[0].item), (answer) => [answer])
          : options.writeMany(batch.map((pending) => pending.item))
      }).pipe(
        Effect.exit,
        Effect.flatMap((exit) =>
          Effect.forEach(
            batch,
            (pending, index) => Deferred.done(pending.done, Exit.map(exit, (answers) => answers[index])),
            { discard: true }
          )
        ),
        Effect.ensuring(Effect.sync(() => inFlight = []))
      )

    // Registered before the writer is forked, so it runs after the writer has been interrupted.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const queued = yield* Queue.takeAll(queue)
        for (const pending of [...inFlight, ...queued]) yield* Deferred.interrupt(pending.done)
        yield* Queue.shutdown(queue)
      })
    )
    yield* Queue.takeBetween(queue, 1, options.maxBatch).pipe(
      Effect.flatMap((chunk) => writeBatch(Array.from(chunk))),
      Effect.forever,
      Effect.forkScoped
    )

    const write = (item: I): Effect.Effect<O, SqlError> =>
      Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
        Option.isSome(transaction)
          ? options.writeOne(item)
          : Effect.flatMap(Deferred.make<O, SqlError>(), (done) =>
            Queue.offer(queue, { item, done }).pipe(Effect.zipRight(Deferred.await(done)))))

    return { write }
  })
