/**
 * The one rule for everything the engine accepts and stores: JSON values that survive a round trip
 * through `JSON.stringify` / `JSON.parse` unchanged, and text columns without characters the databases
 * refuse or silently replace. Every boundary (decide, start, deferred completions, approval requests,
 * step results, timers) checks with these helpers before anything is written.
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/** @internal */
export interface JsonOptions {
  /**
   * A property whose value is `undefined` is dropped by JSON. `"absent"` accepts it as an absent property
   * (what every reader sees after the round trip); `"refuse"` (the default) refuses it.
   */
  readonly undefinedProperties?: "absent" | "refuse" | undefined
  /** Accept `undefined` as the whole value (a step that returns nothing). */
  readonly allowUndefined?: boolean | undefined
}

const maxDepth = 100

const describe = (value: unknown): string => {
  if (value === null) return "null"
  if (typeof value === "object") {
    const proto = Object.getPrototypeOf(value)
    const name = proto?.constructor?.name
    return typeof name === "string" && name !== "" ? `a ${name}` : "an object that is not plain"
  }
  if (typeof value === "number") return String(value)
  return `a ${typeof value}`
}

/**
 * Why `value` is not plain JSON that round-trips unchanged, or `undefined` when it is. Refused: `NaN`,
 * `±Infinity`, `undefined` (unless allowed), functions, symbols, bigints, class instances (`Date`, `Map`,
 * `Error`…), sparse arrays, symbol keys, cycles and nesting deeper than 100 levels.
 *
 * @internal
 */
export const jsonProblem = (value: unknown, options: JsonOptions = {}): string | undefined => {
  if (value === undefined && options.allowUndefined) return undefined
  const ancestors = new Set<object>()
  const walk = (value: unknown, path: string, depth: number): string | undefined => {
    switch (typeof value) {
      case "string":
      case "boolean":
        return undefined
      case "number":
        return Number.isFinite(value) ? undefined : `${path} is ${value}, which JSON cannot represent`
      case "object": {
        if (value === null) return undefined
        if (depth > maxDepth) return `${path} is nested deeper than ${maxDepth} levels`
        if (ancestors.has(value)) return `${path} refers back to itself (a cycle)`
        ancestors.add(value)
        try {
          if (Array.isArray(value)) {
            for (let i = 0; i < value.length; i++) {
              if (!(i in value)) return `${path}[${i}] is a hole in a sparse array`
              const item = value[i]
              if (item === undefined) return `${path}[${i}] is undefined, which JSON cannot represent`
              const problem = walk(item, `${path}[${i}]`, depth + 1)
              if (problem !== undefined) return problem
            }
            return undefined
          }
          const proto = Object.getPrototypeOf(value)
          if (proto !== Object.prototype && proto !== null) return `${path} is ${describe(value)}, not plain JSON`
          if (Object.getOwnPropertySymbols(value).length > 0) return `${path} has symbol keys, which JSON drops`
          for (const key of Object.keys(value)) {
            const item = (value as Record<string, unknown>)[key]
            const itemPath = `${path}.${key}`
            if (item === undefined) {
              if (options.undefinedProperties === "absent") continue
              return `${itemPath} is undefined, which JSON cannot represent`
            }
            const problem = walk(item, itemPath, depth + 1)
            if (problem !== undefined) return problem
          }
          return undefined
        } finally {
          ancestors.delete(value)
        }
      }
      default:
        return `${path} is ${describe(value)}, which JSON cannot represent`
    }
  }
  try {
    return walk(value, "$", 0)
  } catch (error) {
    return `$ could not be read: ${error instanceof Error ? error.message : String(error)}`
  }
}

// A lone surrogate is stored by the drivers as U+FFFD: the text would change without an error.
const unpairedSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * Why `text` cannot be stored as is in a text column, or `undefined`: NUL characters (PostgreSQL refuses
 * them) and unpaired surrogates (the drivers replace them).
 *
 * @internal
 */
export const textProblem = (text: string): string | undefined => {
  if (text.includes("\u0000")) return "contains a NUL character"
  if (unpairedSurrogate.test(text)) return "contains an unpaired UTF-16 surrogate"
  return undefined
}

/**
 * `text` made storable in a text column, for messages the engine writes itself (a run's error): NUL
 * characters are shown escaped, unpaired surrogates replaced.
 *
 * @internal
 */
export const safeText = (text: string): string =>
  text.replace(/\u0000/g, "\\u0000").replace(new RegExp(unpairedSurrogate.source, "g"), "\uFFFD")

/** Like `textProblem`, for a value that may not even be a string. @internal */
export const stringProblem = (value: unknown): string | undefined =>
  typeof value !== "string" ? `is ${describe(value)}, not a string` : textProblem(value)

/**
 * The value as every later reader sees it: through JSON. Only for values `jsonProblem` accepted.
 *
 * @internal
 */
export const roundTrip = <A>(value: A): A => value === undefined ? value : JSON.parse(JSON.stringify(value))

/** A string storable in a text column. @internal */
export const Text = Schema.String.pipe(Schema.filter((text) => textProblem(text) ?? true))

/** A JSON value that round-trips unchanged (no `undefined` inside). @internal */
export const JsonValue = Schema.Unknown.pipe(Schema.filter((value) => jsonProblem(value) ?? true))
