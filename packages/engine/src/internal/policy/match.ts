/**
 * Whether a rule's `match` applies to an action, and if not, the first field that does not: names with
 * trailing `*` wildcards, labels, actor and roles, and conditions on the action's input.
 *
 * @internal
 */
import * as Option from "effect/Option"
import { canonicalJson } from "../canonical.js"
import type { Action, Condition, Match } from "../../Policy.js"

const nameMatches = (pattern: string, name: string): boolean =>
  pattern === "*" || (pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name)

const anyName = (patterns: string | ReadonlyArray<string>, name: string | undefined): boolean =>
  name !== undefined && (typeof patterns === "string" ? [patterns] : patterns).some((pattern) => nameMatches(pattern, name))

const show = (patterns: string | ReadonlyArray<string>): string =>
  typeof patterns === "string" ? `"${patterns}"` : patterns.map((pattern) => `"${pattern}"`).join(" or ")

/**
 * The value at a dotted path of a JSON value (`"customer.tier"`, `"items.0.sku"`), if there is one.
 *
 * @internal
 */
export const valueAt = (value: unknown, path: string): Option.Option<unknown> => {
  let current: unknown = value
  for (const key of path.split(".")) {
    if (current === null || typeof current !== "object" || !Object.hasOwn(current, key)) return Option.none()
    current = (current as Record<string, unknown>)[key]
  }
  return Option.some(current)
}

const conditionProblem = (condition: Condition, input: unknown): string | undefined => {
  const value = valueAt(input, condition.path)
  const where = `input.${condition.path}`
  if (condition.exists !== undefined) {
    return Option.isSome(value) === condition.exists
      ? undefined
      : condition.exists ? `${where} does not exist` : `${where} exists`
  }
  if (Option.isNone(value)) return `${where} does not exist`
  const actual = value.value
  if (condition.equals !== undefined) {
    return canonicalJson(actual) === canonicalJson(condition.equals)
      ? undefined
      : `${where} is ${JSON.stringify(actual)}, not ${JSON.stringify(condition.equals)}`
  }
  if (condition.oneOf !== undefined) {
    const actualJson = canonicalJson(actual)
    return condition.oneOf.some((option) => canonicalJson(option) === actualJson)
      ? undefined
      : `${where} is ${JSON.stringify(actual)}, not one of ${JSON.stringify(condition.oneOf)}`
  }
  if (typeof actual !== "number") return `${where} is ${JSON.stringify(actual)}, not a number`
  if (condition.greaterThan !== undefined && !(actual > condition.greaterThan)) {
    return `${where} is ${actual}, not greater than ${condition.greaterThan}`
  }
  if (condition.lessThan !== undefined && !(actual < condition.lessThan)) {
    return `${where} is ${actual}, not less than ${condition.lessThan}`
  }
  return undefined
}

/**
 * Why `match` does not apply to `action`, or `undefined` when it does.
 *
 * @internal
 */
export const mismatch = (match: Match | undefined, action: Action): string | undefined => {
  if (match === undefined) return undefined
  if (match.workflow !== undefined && !anyName(match.workflow, action.workflow)) {
    return `workflow is "${action.workflow}", not ${show(match.workflow)}`
  }
  if (match.action !== undefined && !anyName(match.action, action.action)) {
    return action.action === undefined
      ? `a run's start has no action (the rule wants ${show(match.action)})`
      : `action is "${action.action}", not ${show(match.action)}`
  }
  for (const [label, wanted] of Object.entries(match.labels ?? {})) {
    const actual = action.labels?.[label]
    if (!anyName(wanted, actual)) {
      return actual === undefined ? `label ${label} is not set (the rule wants ${show(wanted)})` : `label ${label} is "${actual}", not ${show(wanted)}`
    }
  }
  if (match.actor !== undefined && !anyName(match.actor, action.actor)) {
    return action.actor === undefined ? `no actor (the rule wants ${show(match.actor)})` : `actor is "${action.actor}", not ${show(match.actor)}`
  }
  if (match.roles !== undefined && !match.roles.some((role) => action.roles?.includes(role))) {
    return `the actor holds none of the roles ${match.roles.join(", ")}`
  }
  for (const condition of match.input ?? []) {
    const problem = conditionProblem(condition, action.input)
    if (problem !== undefined) return problem
  }
  return undefined
}

