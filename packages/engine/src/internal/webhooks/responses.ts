/**
 * What the dispatcher keeps of a receiver's answer and of a failed attempt.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { responsePrefixLength } from "../webhookPolicy.js"

/** The first `responsePrefixLength` bytes of a response body, as text (empty if it cannot be read). @internal */
export const readPrefix = (stream: Stream.Stream<Uint8Array, unknown>): Effect.Effect<string> =>
  stream.pipe(
    Stream.runFoldWhile(
      new Uint8Array(0),
      (acc) => acc.length < responsePrefixLength,
      (acc, chunk) => {
        const next = new Uint8Array(acc.length + chunk.length)
        next.set(acc)
        next.set(chunk, acc.length)
        return next
      }
    ),
    Effect.map((bytes) => new TextDecoder().decode(bytes.subarray(0, responsePrefixLength))),
    Effect.orElseSucceed(() => "")
  )

/** A failed attempt's error as one line of at most 500 characters, with its cause's message. @internal */
export const describe = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "message" in error) {
    const message = String((error as { message: unknown }).message)
    const cause = (error as { cause?: unknown }).cause
    const inner = typeof cause === "object" && cause !== null && "message" in cause
      ? String((cause as { message: unknown }).message)
      : undefined
    return (inner !== undefined && inner !== message ? `${message}: ${inner}` : message).slice(0, 500)
  }
  return String(error).slice(0, 500)
}
