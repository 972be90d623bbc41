/**
 * Throttle windows and keys: every process computes the same fixed windows and keys, so they share one
 * durable count per key and window.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type { Action, Throttle } from "../../Policy.js"
import { canonicalJson } from "../canonical.js"
import { valueAt } from "./match.js"

/**
 * The fixed window of a throttle that `at` (epoch milliseconds) falls in: its start and its end, when the
 * next window begins. Every process computes the same windows, so they share one count per key and window.
 *
 * @internal
 */
export const windowOf = (throttle: Throttle, at: number): { readonly start: number; readonly end: number } => {
  const length = Duration.toMillis(Duration.decode(throttle.window as Duration.DurationInput))
  const start = Math.floor(at / length) * length
  return { start, end: start + length }
}

/**
 * The throttle key of an action under a template: `{workflow}`, `{action}`, `{actor}`, `{labels.NAME}`
 * and `{input.PATH}` are replaced by the action's values (empty when absent).
 *
 * @internal
 */
export const throttleKey = (template: string, action: Action): string =>
  template.replace(/\{([^{}]+)\}/g, (_, name: string) => {
    const value = name === "workflow"
      ? action.workflow
      : name === "action"
      ? action.action
      : name === "actor"
      ? action.actor
      : name.startsWith("labels.")
      ? action.labels?.[name.slice("labels.".length)]
      : name.startsWith("input.")
      ? Option.getOrUndefined(valueAt(action.input, name.slice("input.".length)))
      : undefined
    return value === undefined ? "" : typeof value === "string" ? value : canonicalJson(value)
  })

