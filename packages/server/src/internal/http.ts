/**
 * Small helpers shared by the handlers: storage failures as 503, optional fields without `undefined`,
 * and entity tags.
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import { BadRequest, StorageUnavailable } from "../api/Errors.js"

/** The engine's storage failure (`SqlError` today, `StorageError` once the engine types it). */
type StorageFailure = { readonly _tag: "SqlError" } | { readonly _tag: "StorageError" }

const isStorageFailure = (u: unknown): u is StorageFailure =>
  Predicate.isTagged(u, "SqlError") || Predicate.isTagged(u, "StorageError")

/** Maps the engine's storage failures to 503 `StorageUnavailable`, logging the cause. */
export const storage = <A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<A, Exclude<E, StorageFailure> | StorageUnavailable, R> =>
  Effect.catchIf(self, isStorageFailure, (error) =>
    Effect.logError("storage failure", error).pipe(
      Effect.zipRight(Effect.fail(new StorageUnavailable({ message: "the database could not serve the request" })))
    )) as any

/** Drops the keys whose value is `undefined` (for options under `exactOptionalPropertyTypes`). */
export const defined = <A extends Record<string, unknown>>(
  record: A
): { [K in keyof A]?: Exclude<A[K], undefined> } => {
  const out: Record<string, unknown> = {}
  for (const key in record) if (record[key] !== undefined) out[key] = record[key]
  return out as any
}

/** Sets the response's `ETag` to a request hash. */
export const setEtag = (hash: string): Effect.Effect<void> =>
  HttpApp.appendPreResponseHandler((_request, response) =>
    Effect.succeed(HttpServerResponse.setHeader(response, "etag", `"${hash}"`))
  )

/** The request hash an `If-Match` header names (`"hash"`, `W/"hash"`, `hash`); `*` names none. */
export const parseIfMatch = (header: string | undefined): Effect.Effect<string | undefined, BadRequest> => {
  if (header === undefined) return Effect.succeed(undefined)
  const value = header.trim()
  if (value === "*") return Effect.succeed(undefined)
  if (value.includes(",")) {
    return Effect.fail(new BadRequest({ message: "If-Match must name exactly one request hash" }))
  }
  const match = /^(?:W\/)?"?([^"]*)"?$/.exec(value)
  if (match === null || match[1] === "") {
    return Effect.fail(new BadRequest({ message: "If-Match is not an entity tag" }))
  }
  return Effect.succeed(match[1])
}
