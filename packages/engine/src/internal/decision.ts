/**
 * Who may decide an approval, and what a decision would do: one pure function over the approval as
 * stored, its votes, the reviewer, the attempt and the time. `Approvals.decide` applies its judgement in
 * one transaction; `Approvals.allowedActions` asks it which buttons a reviewer's inbox shows. Nothing here
 * reads or writes storage.
 *
 * Rules, in the order they are checked (the first that applies answers):
 *
 * 1. authorization: the reviewer is among the approval's current reviewers (users or roles; anyone when
 *    neither is set); whoever started the run cannot approve it unless self-approval is allowed;
 * 2. the attempt itself: `request-changes` only where the node accepts it and with a note; a payload only
 *    on an approval, matching the node's schema;
 * 3. an approval no longer waiting: an exact repeat (same reviewer, verdict, note and payload) of the
 *    decision that won, or of this reviewer's vote in the round that decided it, is `already-decided`;
 *    anything else is a `DecisionConflict` with the approval's status (reason `decided`, or
 *    `deadline-passed` once timed out, `run-ended` once canceled);
 * 4. a run that has ended: `DecisionConflict` (`canceled`);
 * 5. a request hash that is not the current one: `StaleApproval`;
 * 6. the deadline has passed (by the engine's `Clock`), whether or not a runner has fired the timer:
 *    `DecisionConflict` with the status the deadline gives (`timed-out`, or `waiting-approval` while an
 *    escalation is due); the deadline's outcome wins;
 * 7. votes: each escalation starts a new round and only votes of the current round count toward the
 *    quorum. A reviewer votes once per round: the same vote again is a repeat, another one a conflict.
 *
 * @internal
 */
import type { ApprovalStatus, StoredReviewers } from "./storage/approvals.js"
import { canonicalJson } from "./canonical.js"

/** @internal */
export type Verdict = "approve" | "deny" | "request-changes"

/** @internal */
export const verdicts: ReadonlyArray<Verdict> = ["approve", "deny", "request-changes"]

/** @internal */
export const outcomeOf = (verdict: Verdict): ApprovalStatus =>
  verdict === "approve" ? "approved" : verdict === "deny" ? "denied" : "changes-requested"

/** The decision that won, as recorded. @internal */
export interface RecordedDecision {
  readonly outcome: string
  readonly decidedBy: string
  readonly note?: string | undefined
  readonly payload?: unknown
}

/** A vote, with the escalation round it was cast in. @internal */
export interface CastVote {
  readonly voter: string
  readonly verdict: Verdict
  readonly note?: string | undefined
  readonly payload?: unknown
  readonly round: number
}

/** What the judgement needs to know about an approval. @internal */
export interface Subject {
  readonly status: ApprovalStatus
  readonly reviewers: StoredReviewers
  readonly startedBy: string | undefined
  readonly requestHash: string
  readonly acceptsRequestChanges: boolean
  readonly maxRevisions: number | undefined
  readonly deadline: number | undefined
  /** What the deadline does when it passes: time the approval out, or escalate it (once). */
  readonly atDeadline: "time-out" | "escalate"
  /** The escalation round: 0 until the first escalation. */
  readonly round: number
  readonly decision: RecordedDecision | undefined
  readonly votes: ReadonlyArray<CastVote>
  /** The run has ended (completed, failed or canceled). */
  readonly runEnded: boolean
  /** Checks an approve payload against the node's schema: a reason when it does not match. */
  readonly checkPayload: ((payload: unknown) => string | undefined) | undefined
}

/** @internal */
export interface Attempt {
  readonly reviewer: { readonly id: string; readonly roles?: ReadonlyArray<string> | undefined }
  readonly verdict: Verdict
  readonly note?: string | undefined
  readonly payload?: unknown
  readonly requestHash?: string | undefined
}

/** Why a `DecisionConflict`. @internal */
export type ConflictReason = "decided" | "deadline-passed" | "run-ended" | "voted-otherwise"

/** @internal */
export type Refusal =
  | { readonly _tag: "NotAuthorized"; readonly reason: string }
  | { readonly _tag: "InvalidDecision"; readonly reason: string }
  | { readonly _tag: "StaleApproval"; readonly expected: string; readonly actual: string }
  | { readonly _tag: "DecisionConflict"; readonly status: ApprovalStatus; readonly reason: ConflictReason }

/** @internal */
export type Judgement =
  | { readonly _tag: "Refused"; readonly refusal: Refusal }
  | { readonly _tag: "AlreadyDecided" }
  | { readonly _tag: "VoteRepeated" }
  /** Record the vote; the quorum is not reached yet. `votes` counts this one. */
  | { readonly _tag: "Vote"; readonly votes: number; readonly needed: number }
  /** Record the decision (with the vote that reached the quorum when `needed > 1`). */
  | { readonly _tag: "Decide"; readonly outcome: ApprovalStatus; readonly votes: number; readonly needed: number }

const refuse = (refusal: Refusal): Judgement => ({ _tag: "Refused", refusal })

const sameJson = (a: unknown, b: unknown): boolean =>
  (a === undefined || a === null) && (b === undefined || b === null) ? true : canonicalJson(a) === canonicalJson(b)

const sameNote = (a: string | undefined, b: string | undefined): boolean => (a ?? "") === (b ?? "")

/** @internal */
export const isAssigned = (reviewers: StoredReviewers, reviewer: Attempt["reviewer"]): boolean =>
  (reviewers.users.length === 0 && reviewers.roles.length === 0) ||
  reviewers.users.includes(reviewer.id) || (reviewer.roles ?? []).some((role) => reviewers.roles.includes(role))

/** The quorum a verdict needs. @internal */
export const needed = (reviewers: StoredReviewers, verdict: Verdict): number =>
  verdict === "approve" ? reviewers.quorum : verdict === "deny" ? reviewers.denyQuorum : 1

/** Who may not approve even if assigned: whoever started the run, unless self-approval is allowed. @internal */
export const excluded = (subject: Pick<Subject, "reviewers" | "startedBy">): ReadonlyArray<string> =>
  !subject.reviewers.allowSelfApproval && subject.startedBy !== undefined ? [subject.startedBy] : []

/** The votes that count: those of the current round (each escalation starts a new one). @internal */
export const currentVotes = <V extends CastVote>(subject: { readonly round: number; readonly votes: ReadonlyArray<V> }) =>
  subject.votes.filter((vote) => vote.round === subject.round)

/** Where an undecided approval stands: who may still sign, who may not approve, and each quorum's tally. @internal */
export interface Standing<V extends CastVote> {
  /** Votes of the current round. */
  readonly votes: ReadonlyArray<V>
  /** Assigned users who have not voted this round and are not excluded, and the assigned roles. */
  readonly mayStillSign: { readonly users: ReadonlyArray<string>; readonly roles: ReadonlyArray<string> }
  readonly excluded: ReadonlyArray<string>
  readonly approvals: { readonly have: number; readonly need: number }
  readonly denials: { readonly have: number; readonly need: number }
}

/**
 * Where an undecided approval stands under the rules `judge` applies: the votes of the current round,
 * who may still sign, who may not approve, and how far each quorum is.
 *
 * @internal
 */
export const standing = <V extends CastVote>(
  subject: Omit<Subject, "votes"> & { readonly votes: ReadonlyArray<V> }
): Standing<V> => {
  const votes = currentVotes(subject)
  const voters = new Set(votes.map((vote) => vote.voter))
  const notApproving = excluded(subject)
  const { reviewers } = subject
  return {
    votes,
    mayStillSign: {
      users: reviewers.users.filter((user) => !voters.has(user) && !notApproving.includes(user)),
      roles: reviewers.roles
    },
    excluded: notApproving,
    approvals: { have: votes.filter((vote) => vote.verdict === "approve").length, need: needed(reviewers, "approve") },
    denials: { have: votes.filter((vote) => vote.verdict === "deny").length, need: needed(reviewers, "deny") }
  }
}

/** Options of `judge`. `checkInput: false` leaves out the attempt's note and payload (for an inbox's buttons). */
interface JudgeOptions {
  readonly checkInput: boolean
}

/**
 * The judgement on one attempt to decide, at `now`.
 *
 * @internal
 */
export const judge = (
  subject: Subject,
  attempt: Attempt,
  now: number,
  options: JudgeOptions = { checkInput: true }
): Judgement => {
  const by = attempt.reviewer
  // 1. Who may decide.
  if (!isAssigned(subject.reviewers, by)) {
    return refuse({ _tag: "NotAuthorized", reason: "not among the approval's reviewers" })
  }
  if (attempt.verdict === "approve" && excluded(subject).includes(by.id)) {
    return refuse({ _tag: "NotAuthorized", reason: "whoever started the run cannot approve it" })
  }
  // 2. The attempt itself.
  if (attempt.verdict === "request-changes" && !subject.acceptsRequestChanges) {
    return refuse({
      _tag: "InvalidDecision",
      reason: subject.maxRevisions !== undefined
        ? `this approval is the last of ${subject.maxRevisions} revisions: approve or deny`
        : "this approval does not accept request-changes"
    })
  }
  if (options.checkInput) {
    if (attempt.verdict === "request-changes" && (attempt.note === undefined || attempt.note.trim() === "")) {
      return refuse({ _tag: "InvalidDecision", reason: "request-changes needs a note saying what to change" })
    }
    if (attempt.verdict === "approve" && subject.checkPayload !== undefined) {
      const problem = subject.checkPayload(attempt.payload)
      if (problem !== undefined) {
        return refuse({ _tag: "InvalidDecision", reason: `payload does not match the approval's schema: ${problem}` })
      }
    } else if (attempt.payload !== undefined) {
      return refuse({
        _tag: "InvalidDecision",
        reason: attempt.verdict === "approve" ? "this approval takes no payload" : "only an approval carries a payload"
      })
    }
  }
  const outcome = outcomeOf(attempt.verdict)
  const sameAs = (cast: { readonly note?: string | undefined; readonly payload?: unknown }) =>
    sameNote(cast.note, attempt.note) && sameJson(cast.payload, attempt.payload)
  // 3. Already settled: only an exact repeat is answered as such.
  if (subject.status !== "waiting-approval") {
    const decision = subject.decision
    if (decision !== undefined && decision.outcome === outcome && options.checkInput) {
      if (decision.decidedBy === by.id && sameAs(decision)) return { _tag: "AlreadyDecided" }
      const own = subject.votes.find((vote) => vote.voter === by.id && vote.round === subject.round)
      if (own !== undefined && own.verdict === attempt.verdict && sameAs(own)) return { _tag: "AlreadyDecided" }
    }
    const reason: ConflictReason = subject.status === "canceled"
      ? "run-ended"
      : subject.status === "timed-out"
      ? "deadline-passed"
      : "decided"
    return refuse({ _tag: "DecisionConflict", status: subject.status, reason })
  }
  // 4. The run has ended: nothing can be decided on it.
  if (subject.runEnded) return refuse({ _tag: "DecisionConflict", status: "canceled", reason: "run-ended" })
  // 5. The reviewer saw another version of the request.
  if (attempt.requestHash !== undefined && attempt.requestHash !== subject.requestHash) {
    return refuse({ _tag: "StaleApproval", expected: subject.requestHash, actual: attempt.requestHash })
  }
  // 6. Past the deadline the deadline's outcome wins, fired or not.
  if (subject.deadline !== undefined && now >= subject.deadline) {
    return refuse({
      _tag: "DecisionConflict",
      status: subject.atDeadline === "escalate" ? "waiting-approval" : "timed-out",
      reason: "deadline-passed"
    })
  }
  // 7. Votes of the current round.
  const round = currentVotes(subject)
  const own = round.find((vote) => vote.voter === by.id)
  if (own !== undefined) {
    // The same verdict (and payload) again is a repeat that changes nothing, whatever its note: the first
    // vote stands. Another verdict or payload is a different vote.
    if (own.verdict === attempt.verdict && (!options.checkInput || sameJson(own.payload, attempt.payload))) {
      return { _tag: "VoteRepeated" }
    }
    return refuse({ _tag: "DecisionConflict", status: "waiting-approval", reason: "voted-otherwise" })
  }
  const need = needed(subject.reviewers, attempt.verdict)
  const votes = round.filter((vote) => vote.verdict === attempt.verdict).length + 1
  return votes < need ? { _tag: "Vote", votes, needed: need } : { _tag: "Decide", outcome, votes, needed: need }
}

/** Whether a reviewer may take one action now, and why not. @internal */
export type Allowed =
  | { readonly allowed: true; readonly effect: "decides" | "votes" }
  | { readonly allowed: false; readonly reason: string }

/** @internal */
export const describeRefusal = (refusal: Refusal): string => {
  switch (refusal._tag) {
    case "NotAuthorized":
    case "InvalidDecision":
      return refusal.reason
    case "StaleApproval":
      return "the request changed since it was shown"
    case "DecisionConflict":
      return refusal.reason === "deadline-passed"
        ? "the deadline has passed"
        : refusal.reason === "run-ended"
        ? "the run has ended"
        : refusal.reason === "voted-otherwise"
        ? "already voted otherwise in this round"
        : `the approval is already ${refusal.status}`
  }
}

/**
 * Which of approve, deny and request-changes a reviewer may do now, and what each would do: the answer
 * of `judge` for each verdict, leaving out the note and payload the reviewer has not written yet.
 *
 * @internal
 */
export const allowedActions = (
  subject: Subject,
  reviewer: Attempt["reviewer"],
  now: number
): Record<Verdict, Allowed> => {
  const one = (verdict: Verdict): Allowed => {
    const judgement = judge(subject, { reviewer, verdict }, now, { checkInput: false })
    switch (judgement._tag) {
      case "Refused":
        return { allowed: false, reason: describeRefusal(judgement.refusal) }
      case "AlreadyDecided":
      case "VoteRepeated":
        return { allowed: false, reason: "already done" }
      case "Vote":
        return { allowed: true, effect: "votes" }
      case "Decide":
        return { allowed: true, effect: "decides" }
    }
  }
  return { approve: one("approve"), deny: one("deny"), "request-changes": one("request-changes") }
}
