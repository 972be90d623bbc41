/**
 * The stored policy: which one is active (every process evaluates the same one), who activated it and
 * when (audited), every evaluation recorded on its run, and the tools for people who write policy —
 * `explain` against the active policy, `simulate` a draft, and `backtest` a draft over the actions
 * recorded in the last days. Reads and writes only the engine's tables.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { formatError } from "./internal/codec.js"
import { stringProblem } from "./internal/json.js"
import * as PolicyGate from "./internal/policyGate.js"
import type * as Rows from "./internal/rows.js"
import * as Storage from "./internal/storage.js"
import { mapStorage } from "./internal/storageError.js"
import * as Policy from "./Policy.js"
import type { StorageError } from "./StorageError.js"

/**
 * A policy as activated.
 *
 * @since 0.1.0
 * @category models
 */
export class Activation extends Schema.Class<Activation>("@gatehouse/engine/Policies/Activation")({
  snapshotId: Schema.String,
  version: Schema.String,
  /** The document, as JSON. */
  document: Schema.Unknown,
  activatedBy: Schema.String,
  activatedAt: Schema.Number
}) {}

/**
 * An evaluation recorded on a run (or, for a denied start, on no run).
 *
 * @since 0.1.0
 * @category models
 */
export class RecordedEvaluation extends Schema.Class<RecordedEvaluation>("@gatehouse/engine/Policies/RecordedEvaluation")({
  runId: Schema.optional(Schema.String),
  /** The step that declared the action; absent for the run's start. */
  nodeId: Schema.optional(Schema.String),
  snapshotId: Schema.String,
  ruleId: Schema.optional(Schema.String),
  decision: Policy.Decision,
  action: Policy.Action,
  actionHash: Schema.String,
  createdAt: Schema.Number
}) {}

/**
 * What a draft policy would have changed over the actions recorded since `since`.
 *
 * @since 0.1.0
 * @category models
 */
export class Backtest extends Schema.Class<Backtest>("@gatehouse/engine/Policies/Backtest")({
  snapshotId: Schema.String,
  since: Schema.Number,
  /** Actions replayed. */
  actions: Schema.Number,
  /** Actions whose decision the draft changes. */
  changed: Schema.Number,
  /** Counts of each change, `from` the recorded decision `to` the draft's, most frequent first. */
  transitions: Schema.Array(Schema.Struct({ from: Schema.String, to: Schema.String, count: Schema.Number })),
  /** Approvals the draft would request, by reviewer group (`roles: finance`, `users: ana, bob`). */
  approvalsByReviewers: Schema.Array(Schema.Struct({ reviewers: Schema.String, count: Schema.Number })),
  /** Actions the draft's throttles would refuse, replayed in the order and at the times they happened. */
  throttleHits: Schema.Number,
  /** Up to 20 changed actions, oldest first. */
  examples: Schema.Array(Schema.Struct({
    runId: Schema.optional(Schema.String),
    nodeId: Schema.optional(Schema.String),
    workflow: Schema.String,
    action: Schema.optional(Schema.String),
    from: Schema.String,
    to: Schema.String,
    ruleId: Schema.optional(Schema.String)
  })),
  /** More actions were recorded than a backtest replays (`limit`); the oldest were replayed. */
  truncated: Schema.Boolean
}) {}

/**
 * An action, a reviewer id or a backtest's options that cannot be evaluated as given.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPolicyRequest extends Schema.TaggedError<InvalidPolicyRequest>(
  "@gatehouse/engine/InvalidPolicyRequest"
)("InvalidPolicyRequest", { reason: Schema.String }) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return this.reason
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Policies extends Context.Tag("@gatehouse/engine/Policies")<Policies, {
  /** Validates a document (text in YAML or JSON, or an object) and makes it the active policy, audited. */
  readonly activate: (
    document: unknown,
    options: { readonly by: string }
  ) => Effect.Effect<Activation, Policy.InvalidPolicy | InvalidPolicyRequest | StorageError>
  /** The active policy; none until one is activated (then nothing is evaluated). */
  readonly active: Effect.Effect<Option.Option<Activation>, StorageError>
  /** Activations, latest first. */
  readonly history: (options?: { readonly limit?: number | undefined }) => Effect.Effect<ReadonlyArray<Activation>, StorageError>
  /** Which rules of the active policy match the action, in order, and which decides. None without a policy. */
  readonly explain: (action: unknown) => Effect.Effect<Option.Option<Policy.Evaluation>, InvalidPolicyRequest | StorageError>
  /** A draft policy against one action (reads nothing). */
  readonly simulate: (
    document: unknown,
    action: unknown
  ) => Effect.Effect<Policy.Evaluation, Policy.InvalidPolicy | InvalidPolicyRequest>
  /** A draft policy over the actions recorded in the last `days` (default 7). Reads only. */
  readonly backtest: (
    document: unknown,
    options?: { readonly days?: number | undefined; readonly limit?: number | undefined }
  ) => Effect.Effect<Backtest, Policy.InvalidPolicy | InvalidPolicyRequest | StorageError>
  /** The evaluations recorded on a run, in order. */
  readonly evaluations: (runId: string) => Effect.Effect<ReadonlyArray<RecordedEvaluation>, StorageError>
}>() {}

const decodeAction = (input: unknown) =>
  Schema.decodeUnknown(Policy.Action)(input, { errors: "all" }).pipe(
    Effect.mapError((error) => new InvalidPolicyRequest({ reason: `action: ${formatError(error)}` }))
  )

const activationOf = (row: Rows.ActivePolicyRow): Activation =>
  new Activation({
    snapshotId: row.snapshotId,
    version: row.snapshotId.slice(0, row.snapshotId.lastIndexOf("@")),
    document: row.document,
    activatedBy: row.activatedBy,
    activatedAt: row.activatedAt
  })

const reviewersLabel = (reviewers: Policy.Reviewers): string =>
  [
    reviewers.roles !== undefined && reviewers.roles.length > 0 ? `roles: ${[...reviewers.roles].sort().join(", ")}` : undefined,
    reviewers.users !== undefined && reviewers.users.length > 0 ? `users: ${[...reviewers.users].sort().join(", ")}` : undefined
  ].filter((part) => part !== undefined).join("; ") || "anyone"

/**
 * Replays `policy` over recorded evaluations: pure, so a backtest is checkable by hand.
 *
 * @since 0.1.0
 * @category backtests
 */
export const replay = (
  policy: Policy.Policy,
  recorded: ReadonlyArray<Pick<RecordedEvaluation, "runId" | "nodeId" | "action" | "decision" | "createdAt">>,
  since: number,
  truncated = false
): Backtest => {
  const transitions = new Map<string, number>()
  const approvals = new Map<string, number>()
  const windows = new Map<string, number>()
  const examples: Array<Backtest["examples"][number]> = []
  let changed = 0
  let throttleHits = 0
  for (const entry of recorded) {
    const evaluation = Policy.evaluate(policy, entry.action)
    const decision = evaluation.decision
    let to: string = decision.decide
    if (decision.decide === "throttle") {
      const window = Policy.windowOf(decision.throttle, entry.createdAt)
      const key = `${Policy.throttleKey(decision.throttle.key, entry.action)}\u0000${window.start}`
      const admitted = windows.get(key) ?? 0
      if (admitted >= decision.throttle.limit) {
        throttleHits++
        to = "throttled"
      } else {
        windows.set(key, admitted + 1)
        to = "allow"
      }
    } else if (decision.decide === "require_human") {
      const label = reviewersLabel(decision.approval.reviewers)
      approvals.set(label, (approvals.get(label) ?? 0) + 1)
    }
    // A recorded throttle admitted the action, unless it was a start it refused (recorded on no run).
    const from = entry.decision.decide !== "throttle"
      ? entry.decision.decide
      : entry.runId === undefined
      ? "throttled"
      : "allow"
    if (from !== to) {
      changed++
      const transition = `${from}\u0000${to}`
      transitions.set(transition, (transitions.get(transition) ?? 0) + 1)
      if (examples.length < 20) {
        examples.push({
          ...(entry.runId !== undefined ? { runId: entry.runId } : {}),
          ...(entry.nodeId !== undefined ? { nodeId: entry.nodeId } : {}),
          workflow: entry.action.workflow,
          ...(entry.action.action !== undefined ? { action: entry.action.action } : {}),
          from,
          to,
          ...(evaluation.ruleId !== undefined ? { ruleId: evaluation.ruleId } : {})
        })
      }
    }
  }
  const byCount = <A extends { count: number }>(entries: Array<A>) => entries.sort((a, b) => b.count - a.count)
  return new Backtest({
    snapshotId: policy.snapshotId,
    since,
    actions: recorded.length,
    changed,
    transitions: byCount([...transitions].map(([key, count]) => {
      const [from, to] = key.split("\u0000")
      return { from: from!, to: to!, count }
    })),
    approvalsByReviewers: byCount([...approvals].map(([reviewers, count]) => ({ reviewers, count }))),
    throttleHits,
    examples,
    truncated
  })
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Policies["Type"], never, Storage.Storage> = Effect.gen(function*() {
  const { policies: store } = yield* Storage.Storage

  const activate = (document: unknown, options: { readonly by: string }) =>
    Effect.gen(function*() {
      const byProblem = typeof options.by === "string" ? stringProblem(options.by) : "must be a string"
      if (byProblem !== undefined || options.by.length === 0) {
        return yield* new InvalidPolicyRequest({ reason: `by ${byProblem ?? "must not be empty"}` })
      }
      const policy = yield* Policy.decode(document)
      const now = yield* Clock.currentTimeMillis
      const encoded = Schema.encodeSync(Policy.Document)(policy.document)
      yield* store.activate({ snapshotId: policy.snapshotId, version: policy.document.version, document: encoded, by: options.by, now })
      return new Activation({
        snapshotId: policy.snapshotId,
        version: policy.document.version,
        document: encoded,
        activatedBy: options.by,
        activatedAt: now
      })
    })

  const active = Effect.map(store.active, Option.map(activationOf))

  const explain = (input: unknown) =>
    Effect.gen(function*() {
      const action = yield* decodeAction(input)
      const policy = yield* PolicyGate.activeIn(store)
      return Option.map(policy, (policy) => Policy.evaluate(policy, action))
    })

  const simulate = (document: unknown, input: unknown) =>
    Effect.gen(function*() {
      const policy = yield* Policy.decode(document)
      return Policy.evaluate(policy, yield* decodeAction(input))
    })

  const backtest = (document: unknown, options: { readonly days?: number | undefined; readonly limit?: number | undefined } = {}) =>
    Effect.gen(function*() {
      const days = options.days ?? 7
      const limit = options.limit ?? 200_000
      if (!Number.isFinite(days) || days <= 0 || days > 3660) {
        return yield* new InvalidPolicyRequest({ reason: "days must be a number of days between 0 and 3660" })
      }
      if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) {
        return yield* new InvalidPolicyRequest({ reason: "limit must be an integer between 1 and 1000000" })
      }
      const policy = yield* Policy.decode(document)
      const since = (yield* Clock.currentTimeMillis) - days * 24 * 60 * 60 * 1000
      const rows = yield* store.evaluationsSince(since, limit + 1)
      return replay(policy, rows.slice(0, limit), since, rows.length > limit)
    })

  const evaluations = (runId: string) =>
    Effect.map(store.evaluationsOf(runId), (rows) => rows.map(({ seq: _, ...row }) => new RecordedEvaluation(row)))

  return Policies.of({
    activate: (document, options) => mapStorage("Policies.activate")(activate(document, options)),
    active: mapStorage("Policies.active")(active),
    history: (options) =>
      mapStorage("Policies.history")(
        Effect.map(store.history(Math.min(Math.max(1, Math.floor(options?.limit ?? 20)), 500)), (rows) => rows.map(activationOf))
      ),
    explain: (action) => mapStorage("Policies.explain")(explain(action)),
    simulate,
    backtest: (document, options) => mapStorage("Policies.backtest")(backtest(document, options)),
    evaluations: (runId) => mapStorage("Policies.evaluations")(evaluations(runId))
  })
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Policies, never, SqlClient.SqlClient> = Layer.effect(Policies, make).pipe(
  Layer.provide(Storage.layer)
)
