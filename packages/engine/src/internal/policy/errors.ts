/**
 * The errors of policy: a document that does not validate, and what evaluating one at a start, an action
 * or a decision can refuse with. Re-exported by `Policy`.
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/**
 * A policy document that does not validate: `path` names the bad field.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidPolicy extends Schema.TaggedError<InvalidPolicy>("@gatehouse/engine/InvalidPolicy")(
  "InvalidPolicy",
  {
    /** The first bad field (`rules[2].throttle.limit`), empty when the text does not parse. */
    path: Schema.String,
    /** Every problem, each with its path. */
    reason: Schema.String
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `invalid policy: ${this.reason}`
  }
}

/**
 * The policy denies the action: a start fails with it and nothing of the run is stored; a declared action
 * fails its run with it.
 *
 * @since 0.1.0
 * @category errors
 */
export class PolicyDenied extends Schema.TaggedError<PolicyDenied>("@gatehouse/engine/PolicyDenied")(
  "PolicyDenied",
  {
    workflow: Schema.String,
    action: Schema.optional(Schema.String),
    runId: Schema.optional(Schema.String),
    /** The rule that denied; absent when the default did. */
    ruleId: Schema.optional(Schema.String),
    snapshotId: Schema.String,
    reason: Schema.String
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const what = this.action === undefined ? `starting ${this.workflow}` : `action ${this.action} of ${this.workflow}`
    return `policy ${this.snapshotId} denies ${what} (${this.ruleId === undefined ? "default" : `rule ${this.ruleId}`}): ${this.reason}`
  }
}

/**
 * The action is over its rate: `retryAt` (epoch milliseconds) is when its window ends.
 *
 * @since 0.1.0
 * @category errors
 */
export class Throttled extends Schema.TaggedError<Throttled>("@gatehouse/engine/Throttled")("Throttled", {
  workflow: Schema.String,
  action: Schema.optional(Schema.String),
  runId: Schema.optional(Schema.String),
  ruleId: Schema.optional(Schema.String),
  snapshotId: Schema.String,
  key: Schema.String,
  limit: Schema.Number,
  retryAt: Schema.Number
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `throttled by ${this.ruleId === undefined ? "the default" : `rule ${this.ruleId}`}: at most ${this.limit} per window for "${this.key}"; retry at ${
      new Date(this.retryAt).toISOString()
    }`
  }
}

/**
 * A decision on an approval a policy rule created, refused because the active policy changed since and no
 * longer requires this human decision with these reviewers. `outcome` says what the new policy did to the
 * approval: `reissued` to other reviewers, `denied`, `approved`, or `unchanged` (still waiting, e.g. the
 * action is now throttled).
 *
 * @since 0.1.0
 * @category errors
 */
export class PolicyChanged extends Schema.TaggedError<PolicyChanged>("@gatehouse/engine/PolicyChanged")(
  "PolicyChanged",
  {
    runId: Schema.String,
    nodeId: Schema.String,
    requestedUnder: Schema.String,
    activeSnapshot: Schema.String,
    decides: Schema.Literal("allow", "deny", "throttle", "require_human"),
    outcome: Schema.Literal("reissued", "denied", "approved", "unchanged")
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `approval "${this.nodeId}" of run ${this.runId} was requested under policy ${this.requestedUnder}; policy ${this.activeSnapshot} now decides ${this.decides} (the approval was ${this.outcome}); nothing was recorded`
  }
}
