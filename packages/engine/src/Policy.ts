/**
 * Policy before anything runs: a versioned document of ordered rules that decide, for an action a run
 * is about to take (or for the start of a run), `allow`, `deny`, `throttle` or `require_human`. The first
 * rule that matches decides; `default` decides when none does.
 *
 * This module is the document, its validation and its evaluation — pure functions, no storage: what
 * `explain` and `simulate` run, and what the engine evaluates at a run's start and at a declared action.
 * Every evaluation carries the policy's snapshot id (its version and the SHA-256 of its canonical JSON)
 * and the action's hash, so an approval created by a rule stays bound to exactly what was evaluated.
 *
 * @example
 * ```ts
 * import { Policy } from "@gatehouse/engine"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const policy = yield* Policy.decode({
 *     version: "2026-11-22",
 *     default: { decide: "allow" },
 *     rules: [{
 *       id: "large-payments",
 *       match: {
 *         action: "finance.payment.execute",
 *         labels: { environment: "production" },
 *         input: [{ path: "amount", greaterThan: 1000 }]
 *       },
 *       decide: "require_human",
 *       approval: {
 *         reviewers: { roles: ["finance"] },
 *         timeout: "4 hours",
 *         onTimeout: { escalateTo: { roles: ["finance-leads"] }, timeout: "4 hours" }
 *       }
 *     }]
 *   })
 *   return Policy.evaluate(policy, {
 *     workflow: "payout",
 *     action: "finance.payment.execute",
 *     labels: { environment: "production" },
 *     input: { amount: 2500 }
 *   })
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { parse as parseYaml } from "yaml"
import { canonicalJson, sha256 } from "./internal/canonical.js"
import { jsonProblem } from "./internal/json.js"
import { InvalidPolicy } from "./internal/policy/errors.js"
import * as PolicyMatch from "./internal/policy/match.js"
import * as PolicyThrottle from "./internal/policy/throttle.js"

export {
  /**
   * A policy document that does not validate: `path` names the bad field.
   *
   * @since 0.1.0
   * @category errors
   */
  InvalidPolicy,
  /**
   * A decision refused because the active policy no longer requires it.
   *
   * @since 0.1.0
   * @category errors
   */
  PolicyChanged,
  /**
   * The policy denies the action.
   *
   * @since 0.1.0
   * @category errors
   */
  PolicyDenied,
  /**
   * The action is over its rate.
   *
   * @since 0.1.0
   * @category errors
   */
  Throttled
} from "./internal/policy/errors.js"

const NonEmpty = Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" }))

const OneOrMany = Schema.Union(NonEmpty, Schema.Array(NonEmpty).pipe(Schema.minItems(1)))

/**
 * A duration as text (`"4 hours"`, `"30 minutes"`), finite and positive.
 *
 * @since 0.1.0
 * @category models
 */
export const DurationText = Schema.String.pipe(
  Schema.filter((text) => {
    const decoded = Duration.decodeUnknown(text)
    return Option.isSome(decoded) && Duration.isFinite(decoded.value) && Duration.toMillis(decoded.value) > 0
      ? undefined
      : `"${text}" is not a finite, positive duration such as "4 hours"`
  })
)

const JsonValue = Schema.Unknown.pipe(
  Schema.filter((value) => jsonProblem(value) ?? undefined)
)

/**
 * A condition on the action's input, by a dotted path (`"amount"`, `"customer.tier"`): exactly one of
 * `equals`, `oneOf`, `greaterThan`, `lessThan`, `exists`.
 *
 * @since 0.1.0
 * @category models
 */
export const Condition = Schema.Struct({
  path: NonEmpty,
  equals: Schema.optional(JsonValue),
  oneOf: Schema.optional(Schema.Array(JsonValue)),
  greaterThan: Schema.optional(Schema.Number),
  lessThan: Schema.optional(Schema.Number),
  exists: Schema.optional(Schema.Boolean)
}).pipe(
  Schema.filter((condition) => {
    const operators = (["equals", "oneOf", "greaterThan", "lessThan", "exists"] as const).filter((key) =>
      key in condition && condition[key] !== undefined
    )
    return operators.length === 1
      ? undefined
      : `a condition has exactly one of equals, oneOf, greaterThan, lessThan, exists (found ${
        operators.length === 0 ? "none" : operators.join(", ")
      })`
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Condition = typeof Condition.Type

/**
 * What a rule applies to. Every field given must match; an absent field matches anything. Names match
 * exactly, or by prefix with a trailing `*` (`"finance.*"`); a list matches any of its entries.
 *
 * @since 0.1.0
 * @category models
 */
export const Match = Schema.Struct({
  workflow: Schema.optional(OneOrMany),
  /** The declared action; a run's start has none, so a rule with `action` never matches a start. */
  action: Schema.optional(OneOrMany),
  labels: Schema.optional(Schema.Record({ key: Schema.String, value: OneOrMany })),
  actor: Schema.optional(OneOrMany),
  /** The actor holds at least one of these roles. */
  roles: Schema.optional(Schema.Array(NonEmpty)),
  input: Schema.optional(Schema.Array(Condition))
})

/**
 * @since 0.1.0
 * @category models
 */
export type Match = typeof Match.Type

/**
 * Reviewers as a policy names them (the settings of `Approval.request`).
 *
 * @since 0.1.0
 * @category models
 */
export const Reviewers = Schema.Struct({
  users: Schema.optional(Schema.Array(NonEmpty)),
  roles: Schema.optional(Schema.Array(NonEmpty)),
  quorum: Schema.optional(Schema.Int.pipe(Schema.between(1, 100))),
  allowSelfApproval: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Reviewers = typeof Reviewers.Type

/**
 * The approval a `require_human` decision puts before the action.
 *
 * @since 0.1.0
 * @category models
 */
export const HumanApproval = Schema.Struct({
  title: Schema.optional(NonEmpty),
  reviewers: Reviewers,
  timeout: Schema.optional(DurationText),
  onTimeout: Schema.optional(Schema.Union(
    Schema.Literal("deny", "fail"),
    Schema.Struct({ escalateTo: Reviewers, timeout: DurationText })
  ))
})

/**
 * @since 0.1.0
 * @category models
 */
export type HumanApproval = typeof HumanApproval.Type

/**
 * A fixed-window rate: at most `limit` actions per `window` for each key. The key is a template over the
 * action: `{workflow}`, `{action}`, `{actor}`, `{labels.NAME}`, `{input.PATH}`.
 *
 * @since 0.1.0
 * @category models
 */
export const Throttle = Schema.Struct({
  key: NonEmpty,
  limit: Schema.Int.pipe(Schema.between(1, 1_000_000_000)),
  window: DurationText
})

/**
 * @since 0.1.0
 * @category models
 */
export type Throttle = typeof Throttle.Type

const Allow = Schema.Struct({ decide: Schema.Literal("allow") })
const Deny = Schema.Struct({ decide: Schema.Literal("deny"), reason: NonEmpty })
const ThrottleDecision = Schema.Struct({ decide: Schema.Literal("throttle"), throttle: Throttle })
const RequireHuman = Schema.Struct({ decide: Schema.Literal("require_human"), approval: HumanApproval })

/**
 * What a rule, or the default, decides.
 *
 * @since 0.1.0
 * @category models
 */
export const Decision = Schema.Union(Allow, Deny, ThrottleDecision, RequireHuman)

/**
 * @since 0.1.0
 * @category models
 */
export type Decision = typeof Decision.Type

const ruleFields = {
  id: NonEmpty,
  description: Schema.optional(Schema.String),
  match: Schema.optional(Match)
}

/**
 * One rule: an id (recorded with every evaluation it decides), what it matches, and its decision.
 *
 * @since 0.1.0
 * @category models
 */
export const Rule = Schema.Union(
  Schema.Struct({ ...ruleFields, ...Allow.fields }),
  Schema.Struct({ ...ruleFields, ...Deny.fields }),
  Schema.Struct({ ...ruleFields, ...ThrottleDecision.fields }),
  Schema.Struct({ ...ruleFields, ...RequireHuman.fields })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Rule = typeof Rule.Type

/**
 * A policy document as written (YAML or JSON).
 *
 * @since 0.1.0
 * @category models
 */
export const Document = Schema.Struct({
  version: NonEmpty,
  description: Schema.optional(Schema.String),
  default: Decision,
  rules: Schema.Array(Rule)
}).pipe(
  Schema.filter((document) => {
    const seen = new Set<string>()
    for (const [index, rule] of document.rules.entries()) {
      if (seen.has(rule.id)) {
        return { path: ["rules", index, "id"], message: `rule id "${rule.id}" is used twice` }
      }
      seen.add(rule.id)
    }
    return undefined
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export type Document = typeof Document.Type

/**
 * What is evaluated: the start of a run (no `action`) or an action a run declares.
 *
 * @since 0.1.0
 * @category models
 */
export const Action = Schema.Struct({
  workflow: NonEmpty,
  action: Schema.optional(NonEmpty),
  labels: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  actor: Schema.optional(Schema.String),
  roles: Schema.optional(Schema.Array(Schema.String)),
  input: Schema.optional(JsonValue)
})

/**
 * @since 0.1.0
 * @category models
 */
export type Action = typeof Action.Type

/**
 * A validated policy with its snapshot id.
 *
 * @since 0.1.0
 * @category models
 */
export interface Policy {
  readonly document: Document
  /** `VERSION@SHA256`: the version and the SHA-256 of the document's canonical JSON. */
  readonly snapshotId: string
}

/**
 * Why a rule did or did not match an action.
 *
 * @since 0.1.0
 * @category models
 */
export const RuleTrace = Schema.Struct({
  ruleId: Schema.String,
  matched: Schema.Boolean,
  /** For a rule that did not match, the first field that did not; for one that did, what it matched. */
  reason: Schema.String
})

/**
 * @since 0.1.0
 * @category models
 */
export type RuleTrace = typeof RuleTrace.Type

/**
 * The result of evaluating a policy for an action.
 *
 * @since 0.1.0
 * @category models
 */
export class Evaluation extends Schema.Class<Evaluation>("@gatehouse/engine/Policy/Evaluation")({
  snapshotId: Schema.String,
  /** The rule that decided; absent when the default did. */
  ruleId: Schema.optional(Schema.String),
  decision: Decision,
  /** SHA-256 of the canonical JSON of the action (workflow, action, labels, input). */
  actionHash: Schema.String,
  /** Every rule up to the one that decided, in order (what `explain` shows). */
  trace: Schema.Array(RuleTrace)
}) {}

const decodeDocument = Schema.decodeUnknown(Document, { errors: "all", onExcessProperty: "error" })

const pathText = (path: ReadonlyArray<PropertyKey>): string =>
  path.map((key, index) => typeof key === "number" ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`)
    .join("")

/**
 * Makes a policy from a document already typed in TypeScript (validated all the same).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (document: Document): Effect.Effect<Policy, InvalidPolicy> => decode(document)

/**
 * Validates a policy document (parsed JSON or YAML, or an object), or text in YAML or JSON.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decode = (input: unknown): Effect.Effect<Policy, InvalidPolicy> =>
  Effect.gen(function*() {
    const parsed = typeof input === "string"
      ? yield* Effect.try({
        try: () => parseYaml(input, { prettyErrors: true }) as unknown,
        catch: (error) => new InvalidPolicy({ path: "", reason: `not YAML or JSON: ${(error as Error).message}` })
      })
      : input
    const document = yield* decodeDocument(parsed).pipe(
      Effect.mapError((error) => {
        const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
        const first = issues[0]
        return new InvalidPolicy({
          path: first === undefined ? "" : pathText(first.path),
          reason: issues.map((issue) => issue.path.length === 0 ? issue.message : `${pathText(issue.path)}: ${issue.message}`)
            .join("; ")
        })
      })
    )
    return { document, snapshotId: snapshotIdOf(document) }
  })

/**
 * The snapshot id of a document: `VERSION@SHA256` of its canonical JSON.
 *
 * @since 0.1.0
 * @category snapshots
 */
export const snapshotIdOf = (document: Document): string =>
  `${document.version}@${sha256(canonicalJson(Schema.encodeSync(Document)(document)))}`

/**
 * The hash that binds an approval to the action it was created for: SHA-256 of the canonical JSON of the
 * workflow, the action, the labels and the input.
 *
 * @since 0.1.0
 * @category snapshots
 */
export const actionHash = (action: Action): string =>
  sha256(canonicalJson({
    workflow: action.workflow,
    action: action.action ?? null,
    labels: action.labels ?? {},
    input: action.input ?? null
  }))

/**
 * The value at a dotted path of a JSON value (`"customer.tier"`, `"items.0.sku"`), if there is one.
 *
 * @since 0.1.0
 * @category evaluation
 */
export const valueAt: (value: unknown, path: string) => Option.Option<unknown> = PolicyMatch.valueAt

/**
 * Why `match` does not apply to `action`, or `undefined` when it does.
 *
 * @since 0.1.0
 * @category evaluation
 */
export const mismatch: (match: Match | undefined, action: Action) => string | undefined = PolicyMatch.mismatch

const decisionOf = (rule: Rule): Decision => {
  switch (rule.decide) {
    case "allow":
      return { decide: "allow" }
    case "deny":
      return { decide: "deny", reason: rule.reason }
    case "throttle":
      return { decide: "throttle", throttle: rule.throttle }
    case "require_human":
      return { decide: "require_human", approval: rule.approval }
  }
}

/**
 * Evaluates `policy` for `action`: the first rule that matches decides, else the default. Pure: a
 * `throttle` decision is returned as such (the engine counts it against the durable window).
 *
 * @since 0.1.0
 * @category evaluation
 */
export const evaluate = (policy: Policy, action: Action): Evaluation => {
  const trace: Array<RuleTrace> = []
  const hash = actionHash(action)
  for (const rule of policy.document.rules) {
    const problem = mismatch(rule.match, action)
    if (problem === undefined) {
      trace.push({ ruleId: rule.id, matched: true, reason: `matched: decides ${rule.decide}` })
      return new Evaluation({ snapshotId: policy.snapshotId, ruleId: rule.id, decision: decisionOf(rule), actionHash: hash, trace })
    }
    trace.push({ ruleId: rule.id, matched: false, reason: problem })
  }
  return new Evaluation({ snapshotId: policy.snapshotId, decision: policy.document.default, actionHash: hash, trace })
}

/**
 * The fixed window of a throttle that `at` (epoch milliseconds) falls in: its start and its end, when the
 * next window begins. Every process computes the same windows, so they share one count per key and window.
 *
 * @since 0.1.0
 * @category evaluation
 */
export const windowOf: (throttle: Throttle, at: number) => { readonly start: number; readonly end: number } =
  PolicyThrottle.windowOf

/**
 * The throttle key of an action under a template: `{workflow}`, `{action}`, `{actor}`, `{labels.NAME}`
 * and `{input.PATH}` are replaced by the action's values (empty when absent).
 *
 * @since 0.1.0
 * @category evaluation
 */
export const throttleKey: (template: string, action: Action) => string = PolicyThrottle.throttleKey

/**
 * Whether two decisions require the same human decision: both `require_human` with the same reviewers
 * (what a decision under a changed policy must still find to go through).
 *
 * @since 0.1.0
 * @category evaluation
 */
export const sameHumanDecision = (a: Decision, b: Decision): boolean =>
  a.decide === "require_human" && b.decide === "require_human" &&
  canonicalJson(normalReviewers(a.approval.reviewers)) === canonicalJson(normalReviewers(b.approval.reviewers))

const normalReviewers = (reviewers: Reviewers) => ({
  users: [...new Set(reviewers.users ?? [])].sort(),
  roles: [...new Set(reviewers.roles ?? [])].sort(),
  quorum: reviewers.quorum ?? 1,
  allowSelfApproval: reviewers.allowSelfApproval ?? false
})

