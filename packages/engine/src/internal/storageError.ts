import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { StorageError } from "../StorageError.js"

const isSqlError = (u: unknown): u is SqlError =>
  typeof u === "object" && u !== null && "_tag" in u && (u as { _tag: unknown })._tag === "SqlError"

const findSqlError = (cause: Cause.Cause<unknown>): Option.Option<SqlError> =>
  Cause.find(cause, (cause) =>
    (cause._tag === "Fail" && isSqlError(cause.error)) || (cause._tag === "Die" && isSqlError(cause.defect))
      ? Option.some((cause._tag === "Fail" ? cause.error : cause.defect) as SqlError)
      : Option.none())

const reasonOf = (error: SqlError): string => {
  const inner = error.cause instanceof Error ? error.cause.message : undefined
  return inner !== undefined && inner !== error.message ? `${error.message}: ${inner}` : error.message
}

/**
 * The one place a storage failure becomes the public `StorageError`: a `SqlError` failure, and a
 * `SqlError` defect (what `withTransaction` dies with when its COMMIT or ROLLBACK fails on a dropped
 * connection), wherever it sits in the cause. Any other failure passes through unchanged.
 *
 * @internal
 */
export const mapStorage = (operation: string) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, Exclude<E, SqlError> | StorageError, R> =>
  Effect.catchAllCause(effect, (cause): Effect.Effect<never, Exclude<E, SqlError> | StorageError> => {
    const error = findSqlError(cause)
    return Option.isSome(error)
      ? Effect.fail(new StorageError({ operation, reason: reasonOf(error.value) }))
      : Effect.failCause(cause as Cause.Cause<Exclude<E, SqlError>>)
  })

/** `mapStorage` for a stream. @internal */
export const mapStorageStream = (operation: string) =>
<A, E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, Exclude<E, SqlError> | StorageError, R> =>
  Stream.catchAllCause(stream, (cause): Stream.Stream<never, Exclude<E, SqlError> | StorageError> => {
    const error = findSqlError(cause)
    return Option.isSome(error)
      ? Stream.fail(new StorageError({ operation, reason: reasonOf(error.value) }))
      : Stream.failCause(cause as Cause.Cause<Exclude<E, SqlError>>)
  })
