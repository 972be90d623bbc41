/**
 * The rule a repaired run applies to a decision it had before (`internal/approvalReuse.ts`): every reason
 * a decision does not hold, one at a time, and together.
 */
import { assert, describe, it } from "@effect/vitest"
import { judge } from "../src/internal/approvalReuse.js"
import type { ApprovalRow, PolicyBinding, VoteRow } from "../src/internal/rows.js"

const reviewers = { users: ["ana"], roles: [], quorum: 1, denyQuorum: 1, allowSelfApproval: false }
const binding: PolicyBinding = {
  snapshotId: "s1",
  ruleId: "big-refunds",
  actionHash: "h",
  action: { type: "refund" } as any,
  decision: { _tag: "RequireHuman" } as any
}

const prior: ApprovalRow = {
  runId: "r",
  nodeId: "approve",
  baseId: "approve",
  workflow: "refund",
  status: "approved",
  title: "Refund 40?",
  requestHash: "hash-1",
  revision: 0,
  policy: { onDeny: "fail", onTimeout: "deny", allowRequestChanges: false, binding } as any,
  reviewers,
  startedBy: "sam",
  escalations: 0,
  decision: { approved: true, outcome: "approved", decidedBy: "ana", decidedAt: 1_000 },
  requestedAt: 500,
  decidedAt: 1_000,
  updatedAt: 1_000
}
const vote = (voter: string, round = 0): VoteRow => ({
  voter,
  verdict: "approve",
  requestHash: "hash-1",
  round,
  createdAt: 1_000
})

const current = {
  requestHash: "hash-1",
  reviewers,
  binding: binding as PolicyBinding | undefined,
  validForMillis: undefined as number | undefined,
  startedBy: "sam",
  now: 10_000
}

describe("approval reuse", () => {
  it("an unchanged decision holds", () => {
    assert.deepStrictEqual(judge(prior, [vote("ana")], current), { _tag: "Holds" })
    assert.deepStrictEqual(judge(prior, [vote("ana")], { ...current, validForMillis: 9_000 }), { _tag: "Holds" })
  })

  it("each reason to ask again", () => {
    const reasons = (row: ApprovalRow, now: typeof current, votes = [vote("ana")]) => {
      const judged = judge(row, votes, now)
      return judged._tag === "AskAgain" ? judged.reasons : []
    }
    assert.deepStrictEqual(reasons({ ...prior, status: "timed-out" }, current), ["it timed out"])
    assert.deepStrictEqual(reasons({ ...prior, status: "canceled" }, current), ["it was canceled"])
    assert.deepStrictEqual(reasons({ ...prior, status: "waiting-approval" }, current), ["it was not decided"])
    assert.deepStrictEqual(reasons(prior, { ...current, requestHash: "hash-2" }), ["the request changed"])
    assert.deepStrictEqual(reasons(prior, { ...current, binding: { ...binding, ruleId: "other" } }), [
      "the policy gives another outcome"
    ])
    assert.deepStrictEqual(reasons(prior, { ...current, binding: undefined }), ["the policy gives another outcome"])
    // A new snapshot of the policy with the same outcome is the same.
    assert.deepStrictEqual(reasons(prior, { ...current, binding: { ...binding, snapshotId: "s2" } }), [])
    assert.deepStrictEqual(reasons(prior, { ...current, validForMillis: 8_999 }), ["the decision expired"])
    assert.deepStrictEqual(reasons(prior, { ...current, reviewers: { ...reviewers, users: ["bob"] } }), [
      "a reviewer who decided may no longer decide"
    ])
    assert.deepStrictEqual(reasons(prior, { ...current, reviewers: { ...reviewers, quorum: 2 } }), [
      "the quorum is higher now"
    ])
    // The starter decided while self-approval was allowed; it no longer is.
    assert.deepStrictEqual(
      reasons(
        { ...prior, reviewers: { ...reviewers, allowSelfApproval: true } },
        { ...current, startedBy: "ana" }
      ),
      ["a reviewer who decided may no longer decide"]
    )
    assert.deepStrictEqual(reasons(prior, { ...current, requestHash: "x", validForMillis: 1 }), [
      "the request changed",
      "the decision expired"
    ])
  })

  it("a reviewer allowed through a role stays allowed while every role named then still is", () => {
    const byRole = { ...prior, reviewers: { ...reviewers, users: [], roles: ["finance"] } }
    const holds = (roles: Array<string>, users: Array<string> = []) =>
      judge(byRole, [vote("fay")], { ...current, reviewers: { ...reviewers, users, roles } })._tag
    assert.strictEqual(holds(["finance"]), "Holds")
    assert.strictEqual(holds(["finance", "legal"]), "Holds")
    assert.strictEqual(holds(["legal"]), "AskAgain")
    assert.strictEqual(holds([], ["fay"]), "Holds")
    // Only the votes of the round that decided count.
    assert.strictEqual(judge(prior, [vote("bob", 0), vote("ana", 1)], { ...current })._tag, "AskAgain")
  })
})
