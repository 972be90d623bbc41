import * as JSONSchema from "effect/JSONSchema"
import type * as Schema from "effect/Schema"
import * as Run from "../Run.js"
import type { ExitSchema } from "./codec.js"

/** What the engine knows of a declared deferred. @internal */
export interface Declared {
  readonly name: string
  readonly successSchema: Schema.Schema<any, any>
  readonly errorSchema: Schema.Schema<any, any>
  readonly exitSchema: ExitSchema
}

/**
 * Deferreds declared in this process, by name, so a completion addressed by name alone is still validated
 * against the deferred's schemas before anything is stored.
 *
 * @internal
 */
export const declared = new Map<string, Declared>()

/**
 * The JSON Schema of a deferred's completion as stored with its node: `{ success, failure }`, each the
 * JSON Schema of the encoded side of its Effect schema. `undefined` when a schema has no JSON Schema (a
 * declaration without one): such a deferred is completed from code only.
 *
 * @internal
 */
export const jsonSchemaOf = (deferred: Declared): unknown => {
  let cached = jsonSchemas.get(deferred)
  if (cached === undefined) {
    try {
      cached = { value: { success: JSONSchema.make(deferred.successSchema), failure: JSONSchema.make(deferred.errorSchema) } }
    } catch {
      cached = { value: undefined }
    }
    jsonSchemas.set(deferred, cached)
  }
  return cached.value
}

const jsonSchemas = new WeakMap<Declared, { readonly value: unknown }>()

/**
 * A completion of the deferred `name` that cannot be accepted (malformed, not JSON, not matching its
 * schema): an `InvalidPayload` that names the deferred, and says so in its message.
 *
 * @internal
 */
export const invalidCompletion = (name: string, reason: string): Run.InvalidPayload =>
  new Run.InvalidPayload({ workflow: `deferred ${name}`, deferred: name, reason })
