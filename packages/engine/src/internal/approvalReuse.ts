/**
 * Whether a decision recorded before a run was repaired (`Workflows.resume`, `Workflows.fork`) still holds
 * for the request the code builds now. A pure rule: `approvalRequest.ts` reads the rows and records what
 * it decides.
 *
 * A decision holds only if all of these do, and each that does not is a reason to ask again:
 * - it was a decision (approved, denied, changes requested), not a timeout or a cancel;
 * - the request is the same: same title, summary, metadata, reviewed output and revision (its hash);
 * - the policy that required it gives the same outcome (same rule, action and decision), or none did;
 * - it is not older than the request's `validFor`;
 * - whoever decided may still decide under the reviewers the request names now, and the quorum it met
 *   is still enough.
 *
 * @internal
 */
import type * as Rows from "./rows.js"
import { canonicalJson } from "./canonical.js"
import * as Decision from "./decision.js"

/** The request as the code builds it now. @internal */
export interface Current {
  readonly requestHash: string
  readonly reviewers: typeof Rows.StoredReviewers.Type
  readonly binding: Rows.PolicyBinding | undefined
  readonly validForMillis: number | undefined
  readonly startedBy: string | undefined
  readonly now: number
}

/** @internal */
export type Judgement =
  | { readonly _tag: "Holds" }
  | { readonly _tag: "AskAgain"; readonly reasons: ReadonlyArray<string> }

const decided: ReadonlySet<string> = new Set(["approved", "denied", "changes-requested"])

const sameBinding = (a: Rows.PolicyBinding | undefined, b: Rows.PolicyBinding | undefined): boolean =>
  a === undefined || b === undefined
    ? a === b
    : a.ruleId === b.ruleId && a.actionHash === b.actionHash && canonicalJson(a.decision) === canonicalJson(b.decision)

/**
 * Whether a voter allowed under `before` is still allowed under `after`. Who held which role is not
 * stored with a vote, so a voter allowed through a role stays allowed only if every role of `before`
 * is still named.
 */
const stillAllowed = (
  voter: string,
  before: typeof Rows.StoredReviewers.Type,
  after: typeof Rows.StoredReviewers.Type,
  startedBy: string | undefined
): boolean => {
  if (Decision.excluded({ reviewers: after, startedBy }).includes(voter)) return false
  if (after.users.length === 0 && after.roles.length === 0) return true
  if (after.users.includes(voter)) return true
  if (before.users.includes(voter)) return false
  return before.roles.length > 0 && before.roles.every((role) => after.roles.includes(role))
}

/**
 * Judges an earlier approval (its row and the votes of the round that decided it) against the request
 * made now.
 *
 * @internal
 */
export const judge = (
  prior: Rows.ApprovalRow,
  votes: ReadonlyArray<Rows.VoteRow>,
  current: Current
): Judgement => {
  if (!decided.has(prior.status)) {
    const reason = prior.status === "timed-out"
      ? "it timed out"
      : prior.status === "canceled"
      ? "it was canceled"
      : "it was not decided"
    return { _tag: "AskAgain", reasons: [reason] }
  }
  const reasons: Array<string> = []
  if (prior.requestHash !== current.requestHash) reasons.push("the request changed")
  if (!sameBinding(prior.policy.binding, current.binding)) reasons.push("the policy gives another outcome")
  const decision = prior.decision as { readonly decidedBy?: string; readonly decidedAt?: number } | undefined
  const decidedAt = decision?.decidedAt ?? prior.decidedAt ?? prior.requestedAt
  if (current.validForMillis !== undefined && current.now > decidedAt + current.validForMillis) {
    reasons.push("the decision expired")
  }
  const round = votes.filter((vote) => vote.round === prior.escalations)
  const verdict = prior.status === "approved" ? "approve" : prior.status === "denied" ? "deny" : "request-changes"
  const deciders = round.filter((vote) => vote.verdict === verdict).map((vote) => vote.voter)
  if (deciders.length === 0 && decision?.decidedBy !== undefined) deciders.push(decision.decidedBy)
  const allowed = deciders.filter((voter) => stillAllowed(voter, prior.reviewers, current.reviewers, current.startedBy))
  if (allowed.length < deciders.length) reasons.push("a reviewer who decided may no longer decide")
  else if (allowed.length < Decision.needed(current.reviewers, verdict)) reasons.push("the quorum is higher now")
  return reasons.length === 0 ? { _tag: "Holds" } : { _tag: "AskAgain", reasons }
}
