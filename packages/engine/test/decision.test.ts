import { assert, describe, it } from "@effect/vitest"
import { allowedActions, type Attempt, type CastVote, judge, standing, type Subject } from "../src/internal/decision.js"

// The judgement of who may decide, without a database.

const subject = (overrides: Partial<Subject> = {}): Subject => ({
  status: "waiting-approval",
  reviewers: { users: ["ana", "bob"], roles: ["finance"], quorum: 1, denyQuorum: 1, allowSelfApproval: false },
  startedBy: "desk",
  requestHash: "h1",
  acceptsRequestChanges: false,
  maxRevisions: undefined,
  deadline: 1_000,
  atDeadline: "time-out",
  round: 0,
  decision: undefined,
  votes: [],
  runEnded: false,
  checkPayload: undefined,
  ...overrides
})

const attempt = (overrides: Partial<Attempt> = {}): Attempt => ({
  reviewer: { id: "ana" },
  verdict: "approve",
  ...overrides
})

const refusal = (judgement: ReturnType<typeof judge>) => judgement._tag === "Refused" ? judgement.refusal : undefined

describe("decision", () => {
  it("an assigned reviewer decides; an outsider, or the run's starter approving, is not authorized", () => {
    assert.deepStrictEqual(judge(subject(), attempt(), 0), { _tag: "Decide", outcome: "approved", votes: 1, needed: 1 })
    assert.deepStrictEqual(
      judge(subject(), attempt({ reviewer: { id: "dave", roles: ["finance"] }, verdict: "deny" }), 0),
      { _tag: "Decide", outcome: "denied", votes: 1, needed: 1 }
    )
    assert.strictEqual(refusal(judge(subject(), attempt({ reviewer: { id: "mallory" } }), 0))?._tag, "NotAuthorized")
    const self = subject({ startedBy: "ana" })
    assert.strictEqual(refusal(judge(self, attempt(), 0))?._tag, "NotAuthorized")
    assert.strictEqual(judge(self, attempt({ verdict: "deny" }), 0)._tag, "Decide")
    assert.strictEqual(
      judge(subject({ startedBy: "ana", reviewers: { ...self.reviewers, allowSelfApproval: true } }), attempt(), 0)
        ._tag,
      "Decide"
    )
  })

  it("the attempt is validated before anything else is answered", () => {
    const decided = subject({ status: "approved", decision: { outcome: "approved", decidedBy: "ana" } })
    const withSchema = subject({ checkPayload: (payload) => typeof payload === "number" ? undefined : "not a number" })
    assert.strictEqual(refusal(judge(withSchema, attempt({ payload: "x" }), 0))?._tag, "InvalidDecision")
    assert.strictEqual(judge(withSchema, attempt({ payload: 3 }), 0)._tag, "Decide")
    assert.strictEqual(refusal(judge(decided, attempt({ verdict: "deny", payload: 1 }), 0))?._tag, "InvalidDecision")
    const redoOnDecided = attempt({ verdict: "request-changes", note: "x" })
    assert.strictEqual(refusal(judge(decided, redoOnDecided, 0))?._tag, "InvalidDecision")
    const redo = subject({ acceptsRequestChanges: true })
    assert.strictEqual(refusal(judge(redo, attempt({ verdict: "request-changes" }), 0))?._tag, "InvalidDecision")
    assert.strictEqual(judge(redo, attempt({ verdict: "request-changes", note: "warmer" }), 0)._tag, "Decide")
  })

  it("only an exact repeat of the decision that won is already-decided; anything else conflicts", () => {
    const decided = subject({
      status: "approved",
      decision: { outcome: "approved", decidedBy: "ana", note: "fine", payload: { amount: 1, currency: "EUR" } },
      checkPayload: () => undefined
    })
    const same = attempt({ note: "fine", payload: { currency: "EUR", amount: 1 } })
    assert.deepStrictEqual(judge(decided, same, 0), { _tag: "AlreadyDecided" })
    for (
      const other of [
        { ...same, payload: { currency: "EUR", amount: 2 } },
        { ...same, note: "other" },
        { ...same, note: undefined },
        { ...same, reviewer: { id: "bob" } },
        { ...same, verdict: "deny" as const, payload: undefined }
      ]
    ) {
      assert.deepStrictEqual(refusal(judge(decided, other, 0)), {
        _tag: "DecisionConflict",
        status: "approved",
        reason: "decided"
      })
    }
    const timedOut = subject({ status: "timed-out", decision: { outcome: "timed-out", decidedBy: "system" } })
    assert.deepStrictEqual(refusal(judge(timedOut, attempt(), 0)), {
      _tag: "DecisionConflict",
      status: "timed-out",
      reason: "deadline-passed"
    })
    assert.deepStrictEqual(refusal(judge(subject({ status: "canceled" }), attempt(), 0)), {
      _tag: "DecisionConflict",
      status: "canceled",
      reason: "run-ended"
    })
  })

  it("a decision on a run that ended, or past the deadline, is refused whatever the runners did", () => {
    assert.deepStrictEqual(refusal(judge(subject({ runEnded: true }), attempt(), 0)), {
      _tag: "DecisionConflict",
      status: "canceled",
      reason: "run-ended"
    })
    assert.strictEqual(judge(subject(), attempt(), 999)._tag, "Decide")
    assert.deepStrictEqual(refusal(judge(subject(), attempt(), 1_000)), {
      _tag: "DecisionConflict",
      status: "timed-out",
      reason: "deadline-passed"
    })
    assert.deepStrictEqual(refusal(judge(subject({ atDeadline: "escalate" }), attempt(), 5_000)), {
      _tag: "DecisionConflict",
      status: "waiting-approval",
      reason: "deadline-passed"
    })
    assert.deepStrictEqual(refusal(judge(subject(), attempt({ requestHash: "old" }), 0)), {
      _tag: "StaleApproval",
      expected: "h1",
      actual: "old"
    })
  })

  it("quorum: votes of the current round count; a reviewer votes once per round", () => {
    const board = { users: ["a", "b", "c", "x", "y"], roles: [], quorum: 2, denyQuorum: 1, allowSelfApproval: false }
    const vote = (voter: string, round: number, overrides: Partial<CastVote> = {}): CastVote => ({
      voter,
      verdict: "approve",
      round,
      ...overrides
    })
    assert.deepStrictEqual(judge(subject({ reviewers: board }), attempt({ reviewer: { id: "a" } }), 0), {
      _tag: "Vote",
      votes: 1,
      needed: 2
    })
    const afterA = subject({ reviewers: board, votes: [vote("a", 0)] })
    assert.deepStrictEqual(judge(afterA, attempt({ reviewer: { id: "b" } }), 0), {
      _tag: "Decide",
      outcome: "approved",
      votes: 2,
      needed: 2
    })
    assert.deepStrictEqual(judge(afterA, attempt({ reviewer: { id: "a" } }), 0), { _tag: "VoteRepeated" })
    // The same verdict with another note is a repeat of the vote (the first stands); another payload is not.
    assert.deepStrictEqual(judge(afterA, attempt({ reviewer: { id: "a" }, note: "also" }), 0), { _tag: "VoteRepeated" })
    const withPayload = subject({ reviewers: board, votes: [vote("a", 0)], checkPayload: () => undefined })
    assert.deepStrictEqual(refusal(judge(withPayload, attempt({ reviewer: { id: "a" }, payload: { amount: 1 } }), 0)), {
      _tag: "DecisionConflict",
      status: "waiting-approval",
      reason: "voted-otherwise"
    })
    const changed = attempt({ reviewer: { id: "a" }, verdict: "deny" })
    assert.strictEqual(refusal(judge(afterA, changed, 0))?._tag, "DecisionConflict")
    // After an escalation (round 1), a's vote of round 0 no longer counts, and a may vote again if still assigned.
    const escalated = subject({ reviewers: board, round: 1, votes: [vote("a", 0)] })
    assert.deepStrictEqual(judge(escalated, attempt({ reviewer: { id: "x" } }), 0), {
      _tag: "Vote",
      votes: 1,
      needed: 2
    })
    assert.deepStrictEqual(judge(escalated, attempt({ reviewer: { id: "a" } }), 0), {
      _tag: "Vote",
      votes: 1,
      needed: 2
    })
    const xVoted = subject({ reviewers: board, round: 1, votes: [vote("a", 0), vote("x", 1)] })
    assert.strictEqual(judge(xVoted, attempt({ reviewer: { id: "y" } }), 0)._tag, "Decide")
    // The reviewer whose vote reached the quorum, repeating it, is answered already-decided.
    const decided = subject({
      reviewers: board,
      round: 1,
      status: "approved",
      decision: { outcome: "approved", decidedBy: "y" },
      votes: [vote("a", 0), vote("x", 1), vote("y", 1)]
    })
    assert.deepStrictEqual(judge(decided, attempt({ reviewer: { id: "x" } }), 0), { _tag: "AlreadyDecided" })
    assert.strictEqual(refusal(judge(decided, attempt({ reviewer: { id: "a" } }), 0))?._tag, "DecisionConflict")
  })

  it("standing: who may still sign and the tallies agree with the judgement", () => {
    const reviewers = { users: ["ana", "bob", "desk"], roles: ["finance"], quorum: 2, denyQuorum: 1, allowSelfApproval: false }
    const votes: Array<CastVote> = [
      { voter: "ana", verdict: "approve", round: 1 },
      { voter: "bob", verdict: "approve", round: 0 }
    ]
    const escalated = subject({ reviewers, round: 1, votes })
    const now = standing(escalated)
    // Only the current round counts: bob's vote of round 0 is gone, ana's stands.
    assert.deepStrictEqual(now.votes, [votes[0]])
    assert.deepStrictEqual(now.mayStillSign, { users: ["bob"], roles: ["finance"] })
    assert.deepStrictEqual(now.excluded, ["desk"])
    assert.deepStrictEqual([now.approvals, now.denials], [{ have: 1, need: 2 }, { have: 0, need: 1 }])
    // The judgement agrees: bob's approval decides, the excluded starter may not approve, ana already voted.
    assert.deepStrictEqual(judge(escalated, attempt({ reviewer: { id: "bob" } }), 0), {
      _tag: "Decide",
      outcome: "approved",
      votes: 2,
      needed: 2
    })
    assert.strictEqual(refusal(judge(escalated, attempt({ reviewer: { id: "desk" } }), 0))?._tag, "NotAuthorized")
    assert.strictEqual(judge(escalated, attempt(), 0)._tag, "VoteRepeated")
    const selfAllowed = standing(subject({ reviewers: { ...reviewers, allowSelfApproval: true } }))
    assert.deepStrictEqual([selfAllowed.excluded, selfAllowed.mayStillSign.users], [[], ["ana", "bob", "desk"]])
  })

  it("allowedActions: the buttons a reviewer's inbox shows, and why the others are not", () => {
    assert.deepStrictEqual(allowedActions(subject(), { id: "ana" }, 0), {
      approve: { allowed: true, effect: "decides" },
      deny: { allowed: true, effect: "decides" },
      "request-changes": { allowed: false, reason: "this approval does not accept request-changes" }
    })
    const self = allowedActions(subject({ startedBy: "ana" }), { id: "ana" }, 0)
    assert.deepStrictEqual(self.approve, { allowed: false, reason: "whoever started the run cannot approve it" })
    assert.deepStrictEqual(self.deny, { allowed: true, effect: "decides" })
    const outsider = allowedActions(subject(), { id: "mallory" }, 0)
    assert.isFalse(outsider.approve.allowed || outsider.deny.allowed || outsider["request-changes"].allowed)
    assert.deepStrictEqual(allowedActions(subject(), { id: "ana" }, 2_000).approve, {
      allowed: false,
      reason: "the deadline has passed"
    })
    const board = { users: ["a", "b"], roles: [], quorum: 2, denyQuorum: 1, allowSelfApproval: false }
    assert.deepStrictEqual(allowedActions(subject({ reviewers: board }), { id: "a" }, 0).approve, {
      allowed: true,
      effect: "votes"
    })
    const decided = subject({ status: "denied", decision: { outcome: "denied", decidedBy: "bob" } })
    assert.deepStrictEqual(allowedActions(decided, { id: "ana" }, 0).approve, {
      allowed: false,
      reason: "the approval is already denied"
    })
  })
})
