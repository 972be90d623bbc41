/**
 * What the inbox reads from a request: the query, a posted form, and fields decoded with a schema (a form
 * that does not decode is `BadForm`, a 400 page).
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { BadForm } from "./errors.js"

/** A text field of at most `max` characters and without NUL, its errors naming the field. */
export const Text = (name: string, max: number) =>
  Schema.String.pipe(
    Schema.maxLength(max, { message: () => `${name} is longer than ${max} characters` }),
    Schema.filter((s) => !s.includes("\u0000") || `${name} contains a NUL character`)
  )

const badForm = (error: ParseResult.ParseError) =>
  new BadForm({ reason: ParseResult.TreeFormatter.formatErrorSync(error) })

/** Form fields as a record (repeated names as arrays for the keys in `many`), decoded with `schema`. */
export const decodeForm = <A, I>(
  schema: Schema.Schema<A, I>,
  form: URLSearchParams,
  many: ReadonlyArray<string> = []
): Effect.Effect<A, BadForm> => {
  const record: Record<string, unknown> = {}
  for (const key of new Set(form.keys())) record[key] = many.includes(key) ? form.getAll(key) : form.get(key)
  for (const key of many) if (!(key in record)) record[key] = []
  for (const [key, value] of Object.entries(record)) if (value === "" && key === "note") delete record[key]
  return Schema.decodeUnknown(schema)(record, { onExcessProperty: "ignore" }).pipe(Effect.mapError(badForm))
}

/** The posted form of the request. */
export const readForm: Effect.Effect<URLSearchParams, BadForm, HttpServerRequest.HttpServerRequest> = Effect.flatMap(
  HttpServerRequest.HttpServerRequest,
  (request) => Effect.map(request.text, (text) => new URLSearchParams(text))
).pipe(Effect.mapError(() => new BadForm({ reason: "the form could not be read" })))

/** The query string of a request. */
export const queryOf = (request: HttpServerRequest.HttpServerRequest): URLSearchParams =>
  new URL(request.url, "http://inbox").searchParams

/** The request's query, decoded with `schema` (unknown parameters ignored). */
export const decodeQuery = <A, I>(
  schema: Schema.Schema<A, I>
): Effect.Effect<A, BadForm, HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(
    HttpServerRequest.HttpServerRequest,
    (request) =>
      Schema.decodeUnknown(schema)(Object.fromEntries(queryOf(request)), { onExcessProperty: "ignore" }).pipe(
        Effect.mapError(badForm)
      )
  )
