import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
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
 * the items); a write with nothing else in flight, or inside a transaction, goes out alone with `writeOne`.
 * Stopping (the scope closing) interrupts whoever still waits, so no caller waits forever.
 *
 * @internal
 */
export const make = <I, O>(options: {
  readonly writeOne: (item: I) => Effect.Effect<O, SqlError>
  readonly writeMany: (items: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<O>, SqlError>
  readonly maxBatch: number
}): Effect.Effect<GroupCommit<I, O>, never, Scope.Scope> =>
  Effect.gen(function*() {
    // A write goes out from its caller's own fiber when nothing of its kind is being written (no hop, no
    // wait: a lone run is as fast as without sharing); the writes that arrive meanwhile queue, and the
    // writer fiber takes them in batches until the queue is empty.
    let busy = false
    const queued: Array<Pending<I, O>> = []
    let inFlight: ReadonlyArray<Pending<I, O>> = []
    const signal = yield* Queue.sliding<void>(1)

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

    // Called, synchronously, by whoever finishes a write: the queue goes to the writer, or nobody is busy.
    const handOver = () => {
      if (queued.length > 0) Queue.unsafeOffer(signal, undefined)
      else busy = false
    }

    // Registered before the writer is forked, so it runs after the writer has been interrupted.
    yield* Effect.addFinalizer(() =>
      Effect.forEach([...inFlight, ...queued.splice(0)], (pending) => Deferred.interrupt(pending.done), { discard: true })
    )
    yield* Queue.take(signal).pipe(
      Effect.zipRight(Effect.whileLoop({
        while: () => queued.length > 0,
        body: () => writeBatch(queued.splice(0, options.maxBatch)),
        step: () => {}
      })),
      Effect.zipRight(Effect.sync(handOver)),
      Effect.forever,
      Effect.forkScoped
    )

    const write = (item: I): Effect.Effect<O, SqlError> =>
      Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
        Effect.suspend(() => {
          if (Option.isSome(transaction)) return options.writeOne(item)
          if (!busy) {
            busy = true
            return Effect.ensuring(options.writeOne(item), Effect.sync(handOver))
          }
          const done = Deferred.unsafeMake<O, SqlError>(FiberId.none)
          queued.push({ item, done })
          return Deferred.await(done)
        }))

    return { write }
  })
