import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { jsonProblem, roundTrip, safeText } from "./json.js"

/** @internal */
export type ExitSchema = Schema.Schema<Exit.Exit<any, any>, any>

/**
 * How an Exit is stored: success and failure through the node's own schemas, defects as
 * `{ name, message, stack }`, then as JSON.
 *
 * @internal
 */
export const exitSchema = (success: Schema.Schema.Any, failure: Schema.Schema.All): ExitSchema => {
  let byFailure = exitSchemas.get(success)
  if (byFailure === undefined) {
    byFailure = new WeakMap()
    exitSchemas.set(success, byFailure)
  }
  let schema = byFailure.get(failure)
  if (schema === undefined) {
    schema = Schema.Exit({ success, failure, defect: Schema.Defect }) as any as ExitSchema
    byFailure.set(failure, schema)
  }
  return schema
}

// Effect compiles a parser per schema instance: a step that built its Exit schema on every call paid
// that compilation (most of a millisecond) on every checkpoint. Schemas are immutable, so share them.
const exitSchemas = new WeakMap<Schema.Schema.Any, WeakMap<Schema.Schema.All, ExitSchema>>()

const isJson = (value: unknown): boolean => {
  try {
    JSON.stringify(value)
    return true
  } catch {
    return false
  }
}

/**
 * Why an encoded Exit cannot be stored as is. A success value must be JSON that round-trips unchanged
 * (`undefined` as the whole value, or as a property, counts as absent); a failure is stored as its JSON
 * form, which must exist.
 */
const notStorable = (encoded: unknown, what: string): string | undefined => {
  if (typeof encoded === "object" && encoded !== null && (encoded as { _tag?: unknown })._tag === "Success") {
    const problem = jsonProblem((encoded as { value?: unknown }).value, { allowUndefined: true, undefinedProperties: "absent" })
    return problem === undefined
      ? undefined
      : `${what} produced a value that is not JSON (${problem.replace(/^\$/, "the value")}); give it a schema that encodes it`
  }
  return isJson(encoded) ? undefined : `${what} produced a value that is not JSON`
}

/**
 * Encodes an Exit for the journal and returns it as it is stored and read back: through JSON, so the
 * first execution sees exactly what every replay will. A value its schema cannot encode, or that is not
 * JSON, is recorded as a defect that says so (naming the node): the journal must always be readable on
 * replay, and the first execution and the replays see the same defect.
 *
 * @internal
 */
export const encodeExit = (schema: ExitSchema, exit: Exit.Exit<unknown, unknown>, what: string): Effect.Effect<unknown> =>
  Effect.suspend(() => {
    // Synchronous first: this runs on every checkpoint. Anything else (an asynchronous schema, a value
    // that does not encode) takes the full path below.
    const encoded = Schema.encodeEither(schema)(exit)
    return Either.isRight(encoded) && notStorable(encoded.right, what) === undefined
      ? Effect.succeed(roundTrip(encoded.right))
      : encodeSlowly(schema, exit, what)
  })

const encodeSlowly = (schema: ExitSchema, exit: Exit.Exit<unknown, unknown>, what: string): Effect.Effect<unknown> =>
  Schema.encode(schema)(exit).pipe(
    Effect.flatMap((encoded) => {
      const problem = notStorable(encoded, what)
      return problem === undefined ? Effect.succeed(roundTrip(encoded)) : Effect.fail(problem)
    }),
    Effect.catchAll((error) => {
      const message = typeof error === "string"
        ? error
        : `${what} produced a value its schema cannot encode: ${ParseResult.TreeFormatter.formatErrorSync(error)}`
      return Schema.encode(schema)(Exit.die(new Error(message))).pipe(Effect.map(roundTrip), Effect.orDie)
    })
  )

/** @internal */
export const decodeExit = (schema: ExitSchema, encoded: unknown): Effect.Effect<Exit.Exit<any, any>> =>
  Effect.suspend(() => {
    const decoded = Schema.decodeUnknownEither(schema)(encoded)
    return Either.isRight(decoded) ? Effect.succeed(decoded.right) : Schema.decodeUnknown(schema)(encoded).pipe(Effect.orDie)
  })

/** @internal */
export const formatError = (error: ParseResult.ParseError): string => ParseResult.TreeFormatter.formatErrorSync(error)

/** A one-line reason for a failed run, for listings and the CLI. @internal */
export const describeCause = (cause: Cause.Cause<unknown>): string => safeText(describeCauseRaw(cause))

const describeCauseRaw = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value
    if (error instanceof Error) return error.message
    if (typeof error === "object" && error !== null && "_tag" in error) return String((error as any)._tag)
    return String(error)
  }
  const defect = Cause.dieOption(cause)
  if (defect._tag === "Some") return defect.value instanceof Error ? defect.value.message : String(defect.value)
  return Cause.isInterruptedOnly(cause) ? "interrupted" : Cause.pretty(cause)
}
