/**
 * `gatehouse policy validate|activate|show|explain|simulate|backtest`: the tools for people who write
 * policy. `validate` and `simulate` read only the draft file; the others talk to the database or server.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type { Policy } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import { Backend } from "../Backend.js"
import * as CliError from "../CliError.js"
import * as Output from "../Output.js"
import { parsePayload } from "./decide.js"
import { connection, json, withBackend } from "./shared.js"

const file = Args.file({ name: "FILE", exists: "yes" }).pipe(Args.withDescription("a policy document in YAML or JSON"))

const readDocument = (path: string): Effect.Effect<string, CliError.CliError> =>
  Effect.try({
    try: () => fs.readFileSync(path, "utf8"),
    catch: (error) => CliError.make("invalid-input", `cannot read ${path}: ${(error as Error).message}`)
  })

// Loaded when a command reads a policy, not at start-up: the engine is for the commands that use it.
const loadPolicy = Effect.promise(() => import("@gatehouse/engine")).pipe(Effect.map((engine) => engine.Policy))

const decodeDraft = (path: string): Effect.Effect<Policy.Policy, CliError.CliError> =>
  Effect.flatMap(Effect.zip(readDocument(path), loadPolicy), ([text, Policy]) =>
    Effect.mapError(Policy.decode(text), (error) =>
      CliError.make("invalid-input", `${path}: ${error.message}`, error.path === "" ? undefined : `fix ${error.path}`)))

const LabelPair = Schema.String.pipe(
  Schema.filter((text) => /^[^=]+=.*$/.test(text) || "a label is NAME=VALUE")
)

/**
 * `--label NAME=VALUE`, repeated.
 *
 * @since 0.1.0
 * @category options
 */
export const labelOption = Options.text("label").pipe(
  Options.withDescription("a label NAME=VALUE (repeat for several)"),
  Options.repeated,
  Options.withSchema(Schema.mutable(Schema.Array(LabelPair)))
)

/**
 * The labels of `--label NAME=VALUE` flags (already validated by `labelOption`).
 *
 * @since 0.1.0
 * @category options
 */
export const labelsOf = (pairs: ReadonlyArray<string>): Record<string, string> =>
  Object.fromEntries(pairs.map((pair) => {
    const at = pair.indexOf("=")
    return [pair.slice(0, at), pair.slice(at + 1)]
  }))

/**
 * The action `explain` and `simulate` evaluate, from flags.
 *
 * @since 0.1.0
 * @category options
 */
export const actionOptions = {
  workflow: Options.text("workflow").pipe(Options.withDescription("the workflow's name")),
  action: Options.text("action").pipe(
    Options.withDescription("the declared action (finance.payment.execute); none for a run's start"),
    Options.optional
  ),
  label: labelOption,
  actor: Options.text("actor").pipe(Options.withDescription("who starts the run"), Options.optional),
  role: Options.text("role").pipe(Options.withDescription("a role of the actor (repeat for several)"), Options.repeated),
  input: Options.text("input").pipe(Options.withDescription("the action's input as JSON, or @file"), Options.optional)
} as const

const actionOf = (options: {
  readonly workflow: string
  readonly action: Option.Option<string>
  readonly label: ReadonlyArray<string>
  readonly actor: Option.Option<string>
  readonly role: ReadonlyArray<string>
  readonly input: Option.Option<string>
}): Effect.Effect<Policy.Action, CliError.CliError> =>
  Effect.gen(function*() {
    const input = Option.isSome(options.input)
      ? yield* parsePayload(options.input.value).pipe(
        Effect.mapError((error) => CliError.make("invalid-input", error.message.replace("--payload", "--input"), error.hint?.replace(/--payload/g, "--input")))
      )
      : undefined
    const labels = labelsOf(options.label)
    const Policy = yield* loadPolicy
    return yield* Schema.decodeUnknown(Policy.Action)({
      workflow: options.workflow,
      ...(Option.isSome(options.action) ? { action: options.action.value } : {}),
      ...(options.label.length > 0 ? { labels } : {}),
      ...(Option.isSome(options.actor) ? { actor: options.actor.value } : {}),
      ...(options.role.length > 0 ? { roles: options.role } : {}),
      ...(input !== undefined ? { input } : {})
    }).pipe(Effect.mapError((error) => CliError.make("invalid-input", `the action: ${error.message}`)))
  })

const decides = (evaluation: Policy.Evaluation): string => {
  const decision = evaluation.decision
  const by = evaluation.ruleId === undefined ? "the default" : `rule ${evaluation.ruleId}`
  switch (decision.decide) {
    case "allow":
      return `${Output.style.green("allow")} by ${by}`
    case "deny":
      return `${Output.style.red("deny")} by ${by}: ${decision.reason}`
    case "throttle":
      return `${Output.style.yellow("throttle")} by ${by}: at most ${decision.throttle.limit} per ${decision.throttle.window} for "${decision.throttle.key}"`
    case "require_human": {
      const reviewers = decision.approval.reviewers
      const who = [...(reviewers.users ?? []).map((user) => `user ${user}`), ...(reviewers.roles ?? []).map((role) => `role ${role}`)]
        .join(", ") || "anyone"
      return `${Output.style.yellow("require_human")} by ${by}: ${who}${
        decision.approval.timeout !== undefined ? `, within ${decision.approval.timeout}` : ""
      }`
    }
  }
}

const printEvaluation = (evaluation: Policy.Evaluation) =>
  Effect.gen(function*() {
    yield* Output.table(
      ["RULE", "MATCHED", "WHY"],
      evaluation.trace.map((entry) => [entry.ruleId, entry.matched ? Output.style.green("yes") : "no", entry.reason]),
      "no rules: the default decides"
    )
    yield* Console.log("")
    yield* Console.log(Output.fields([
      ["decides", decides(evaluation)],
      ["snapshot", evaluation.snapshotId],
      ["action hash", evaluation.actionHash]
    ]))
  })

/**
 * @since 0.1.0
 * @category commands
 */
export const validate = Command.make("validate", { file, json }, (options) =>
  Effect.gen(function*() {
    const policy = yield* decodeDraft(options.file)
    const summary = { snapshotId: policy.snapshotId, version: policy.document.version, rules: policy.document.rules.length }
    if (options.json) return yield* Output.json(summary)
    yield* Console.log(`${Output.style.green("valid")}: version ${summary.version}, ${summary.rules} rules, snapshot ${summary.snapshotId}`)
  })).pipe(Command.withDescription("Validate a policy document without activating it"))

/**
 * @since 0.1.0
 * @category commands
 */
export const activate = Command.make(
  "activate",
  {
    file,
    ...connection,
    json,
    as: Options.text("as").pipe(
      Options.withDescription("who activates it, against a database (default cli:$USER); refused against a server"),
      Options.optional
    )
  },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        // Validated here first, so a bad file says where without a round trip.
        yield* decodeDraft(options.file)
        const activation = yield* (yield* Backend).activatePolicy(yield* readDocument(options.file), Option.getOrUndefined(options.as))
        if (options.json) return yield* Output.json(activation)
        yield* Console.log(`${Output.style.green("active")}: ${activation.snapshotId}, activated by ${activation.activatedBy}`)
      })
    )
).pipe(Command.withDescription("Make a policy document the active policy (audited)"))

/**
 * @since 0.1.0
 * @category commands
 */
export const show = Command.make("show", { ...connection, json }, (options) =>
  withBackend(
    options,
    Effect.gen(function*() {
      const active = yield* (yield* Backend).activePolicy
      if (options.json) return yield* Output.json(Option.getOrNull(active))
      if (Option.isNone(active)) return yield* Console.log("no active policy: nothing is evaluated, everything runs")
      const now = yield* Output.now
      yield* Console.log(Output.fields([
        ["snapshot", active.value.snapshotId],
        ["version", active.value.version],
        ["activated", `${Output.timestamp(active.value.activatedAt, now)} by ${active.value.activatedBy}`]
      ]))
      yield* Console.log("")
      yield* Console.log(JSON.stringify(active.value.document, null, 2))
    })
  )).pipe(Command.withDescription("The active policy, who activated it and when"))

/**
 * @since 0.1.0
 * @category commands
 */
export const explain = Command.make("explain", { ...actionOptions, ...connection, json }, (options) =>
  withBackend(
    options,
    Effect.gen(function*() {
      const evaluation = yield* (yield* Backend).explainPolicy(yield* actionOf(options))
      if (options.json) return yield* Output.json(Option.getOrNull(evaluation))
      if (Option.isNone(evaluation)) return yield* Console.log("no active policy: the action is allowed")
      yield* printEvaluation(evaluation.value)
    })
  )).pipe(Command.withDescription("Which rules of the active policy match an action, in order, and which decides"))

/**
 * @since 0.1.0
 * @category commands
 */
export const simulate = Command.make("simulate", { file, ...actionOptions, json }, (options) =>
  Effect.gen(function*() {
    const policy = yield* decodeDraft(options.file)
    const evaluation = (yield* loadPolicy).evaluate(policy, yield* actionOf(options))
    if (options.json) return yield* Output.json(evaluation)
    yield* printEvaluation(evaluation)
  })).pipe(Command.withDescription("A draft policy against one action"))

/**
 * @since 0.1.0
 * @category commands
 */
export const backtest = Command.make(
  "backtest",
  {
    file,
    ...connection,
    json,
    days: Options.float("days").pipe(
      Options.withSchema(Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThanOrEqualTo(3660))),
      Options.withDescription("replay the actions recorded in the last N days (default 7)"),
      Options.optional
    )
  },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        yield* decodeDraft(options.file)
        const report = yield* (yield* Backend).backtestPolicy(yield* readDocument(options.file), Option.getOrUndefined(options.days))
        if (options.json) return yield* Output.json(report)
        yield* Console.log(
          `${report.actions} actions replayed, ${report.changed} would change${report.truncated ? " (the oldest only: more were recorded)" : ""}; ${report.throttleHits} throttled`
        )
        yield* Console.log("")
        yield* Output.table(
          ["FROM", "TO", "COUNT"],
          report.transitions.map((t) => [t.from, t.to, String(t.count)]),
          "no decision would change"
        )
        if (report.approvalsByReviewers.length > 0) {
          yield* Console.log("")
          yield* Output.table(
            ["APPROVALS FOR", "COUNT"],
            report.approvalsByReviewers.map((group) => [group.reviewers, String(group.count)]),
            ""
          )
        }
      })
    )
).pipe(Command.withDescription("A draft policy over the actions recorded in the last days (reads only)"))

/**
 * @since 0.1.0
 * @category commands
 */
export const policy = Command.make("policy").pipe(
  Command.withDescription("Policy: rules that allow, deny, throttle or require a human"),
  Command.withSubcommands([validate, activate, show, explain, simulate, backtest])
)
