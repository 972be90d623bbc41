/**
 * `Approvals.decide`: one decision in one transaction. It validates the input, locks the run then the
 * approval, asks the rule (`internal/decision.ts`) for its judgement, re-checks a policy-required approval
 * against the active policy, and records the vote or the decision with its audit entry and event, waking
 * the run.
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Policy from "../../Policy.js"
import * as Run from "../../Run.js"
import type { ApprovalRow } from "../storage/approvals.js"
import { formatError } from "../codec.js"
import * as Decision from "../decision.js"
import * as InternalMetrics from "../metrics.js"
import * as PolicyRecheck from "../policyRecheck.js"
import type * as Storage from "../storage.js"
import * as Tracing from "../tracing.js"
import { ApprovalNotFound, DecisionConflict, InvalidDecision, NotAuthorized, StaleApproval } from "./errors.js"
import { DecideInput, DecideResult, limits, type Vote } from "./models.js"
import { toRecord } from "./records.js"

/** What `decide` reads an approval's rows with, shared with the service's other calls. @internal */
export interface Rows {
  readonly votesOf: (runId: string, nodeId: string) => Effect.Effect<ReadonlyArray<Vote>, SqlError>
  /** The row (with its votes) as the rule's input. */
  readonly subjectOf: (row: ApprovalRow, votes: ReadonlyArray<Vote>, runEnded: boolean) => Decision.Subject
}

/**
 * The `decide` of one service instance, on its storage.
 *
 * @internal
 */
export const make = (storage: Storage.Storage["Type"], rows: Rows) => {
  const { approvals, runs: store, signals } = storage
  const { subjectOf, votesOf } = rows
  return (input: DecideInput) =>
    Effect.gen(function*() {
      const decoded = yield* Schema.decodeUnknown(DecideInput)(input, { onExcessProperty: "error" }).pipe(
        Effect.mapError((error) => new InvalidDecision({ reason: formatError(error) }))
      )
      const by = decoded.by
      yield* Effect.annotateCurrentSpan({
        runId: decoded.runId,
        nodeId: decoded.nodeId,
        verdict: decoded.verdict,
        reviewer: by.id
      })
      let payloadJson: string | undefined = undefined
      if (decoded.payload !== undefined) {
        try {
          payloadJson = JSON.stringify(decoded.payload)
        } catch {
          return yield* new InvalidDecision({ reason: "payload is not JSON" })
        }
        if (Buffer.byteLength(payloadJson, "utf8") > limits.payloadBytes) {
          return yield* new InvalidDecision({ reason: `payload is over ${limits.payloadBytes} bytes` })
        }
      }
      const now = yield* Clock.currentTimeMillis
      // The decision's span, stored with the wake: the execution it resumes links to it.
      const link = yield* Tracing.currentLink

      const outcome = yield* Effect.gen(function*() {
        // The lock order of `internal/storage/runs.ts`: the run's lock first, then the approval's row.
        yield* store.lockRun(decoded.runId)
        const found = yield* approvals.resolve(decoded.runId, decoded.nodeId, { lock: true })
        if (Option.isNone(found)) return yield* new ApprovalNotFound({ runId: decoded.runId, nodeId: decoded.nodeId })
        const approval = found.value
        const address = { runId: approval.runId, nodeId: approval.nodeId }
        const run = yield* store.getRun(approval.runId)
        const runEnded = Option.isNone(run) || Run.isTerminal(run.value.status)
        const votes = yield* votesOf(approval.runId, approval.nodeId)
        const judgement = Decision.judge(subjectOf(approval, votes, runEnded), {
          reviewer: by,
          verdict: decoded.verdict,
          note: decoded.note,
          payload: decoded.payload,
          requestHash: decoded.requestHash
        }, now)

        if (judgement._tag === "Refused") {
          const refusal = judgement.refusal
          switch (refusal._tag) {
            case "NotAuthorized":
              return yield* new NotAuthorized({ ...address, reviewer: by.id, reason: refusal.reason })
            case "InvalidDecision":
              return yield* new InvalidDecision({ reason: `approval "${approval.nodeId}": ${refusal.reason}` })
            case "StaleApproval":
              return yield* new StaleApproval({ ...address, expected: refusal.expected, actual: refusal.actual })
            case "DecisionConflict":
              return yield* new DecisionConflict({
                ...address,
                status: refusal.status,
                attempted: decoded.verdict,
                reason: refusal.reason
              })
          }
        }
        if (judgement._tag === "AlreadyDecided") return { status: "already-decided" as const, approval }
        if (judgement._tag === "VoteRepeated") return { status: "vote-recorded" as const, approval, repeated: true }

        // An approval a policy rule required: under a policy activated since, the decision goes through
        // only if that policy still requires this human decision with these reviewers.
        const rebound = yield* PolicyRecheck.recheckIn(storage, approval, now)
        if (rebound._tag === "Changed") return { status: "policy-changed" as const, approval, change: rebound.change }
        const snapshots = rebound._tag === "Same" ? { snapshots: [rebound.from, rebound.to] } : {}

        const round = approval.escalations
        if (judgement.needed > 1) {
          yield* approvals.insertVote({
            ...address,
            round,
            voter: by.id,
            verdict: decoded.verdict,
            note: decoded.note,
            payloadJson,
            requestHash: approval.requestHash,
            now
          })
        }
        const tally = { verdict: decoded.verdict, votes: judgement.votes, needed: judgement.needed, round }
        // Every vote is audited, the one that reaches the quorum too (before its decision).
        const auditVote = storage.audit.append({
          ...address,
          action: "approval.voted",
          actor: by.id,
          requestHash: decoded.requestHash ?? approval.requestHash,
          note: decoded.note,
          data: { ...tally, ...snapshots },
          now
        })
        if (judgement._tag === "Vote") {
          yield* approvals.recordDecider(approval.runId, approval.nodeId, by.id)
          yield* storage.events.append({ ...address, type: "approval.vote-recorded", actor: by.id, data: tally, now })
          yield* auditVote
          return { status: "vote-recorded" as const, approval }
        }

        const decision = {
          approved: decoded.verdict === "approve",
          outcome: judgement.outcome,
          ...(decoded.note !== undefined ? { note: decoded.note } : {}),
          decidedBy: by.id,
          decidedAt: now,
          ...(decoded.payload !== undefined ? { payload: decoded.payload } : {})
        }
        const settled = yield* approvals.settle({ ...address, status: judgement.outcome, decision, now })
        if (!settled) return yield* Effect.dieMessage(`Approval "${approval.nodeId}" changed under its run's lock`)
        yield* approvals.recordDecider(approval.runId, approval.nodeId, by.id)
        // The run's row last: a runner's claim skips a locked run only between this wake and the commit.
        yield* store.wake(approval.runId, now, link)
        yield* storage.events.append({
          ...address,
          type: "approval.decided",
          actor: by.id,
          data: { verdict: decoded.verdict, revision: approval.revision },
          now
        })
        if (judgement.needed > 1) yield* auditVote
        yield* storage.audit.append({
          ...address,
          action: "approval.decided",
          actor: by.id,
          requestHash: decoded.requestHash ?? approval.requestHash,
          note: decoded.note,
          data: { verdict: decoded.verdict, payload: decoded.payload ?? null, ...snapshots },
          now
        })
        return {
          status: "decided" as const,
          approval: { ...approval, status: judgement.outcome, decision, decidedAt: now }
        }
      }).pipe(
        storage.transaction,
        Effect.tapError((error) => error._tag === "StaleApproval" ? Metric.increment(InternalMetrics.approvalsStale) : Effect.void)
      )

      if (outcome.status === "policy-changed") {
        if (outcome.change.outcome === "denied" || outcome.change.outcome === "approved") yield* signals.work.notify
        return yield* new Policy.PolicyChanged({ runId: outcome.approval.runId, nodeId: outcome.approval.nodeId, ...outcome.change })
      }
      if (outcome.status === "decided") {
        yield* signals.work.notify
        yield* Metric.increment(Metric.tagged(InternalMetrics.approvalsDecided, "verdict", decoded.verdict))
        yield* Metric.update(InternalMetrics.decisionWait, Math.max(0, now - outcome.approval.requestedAt) / 1000)
      } else if (outcome.status === "already-decided") {
        yield* Metric.increment(InternalMetrics.approvalsAlreadyDecided)
      }
      return new DecideResult({
        status: outcome.status,
        approval: toRecord(outcome.approval, yield* votesOf(outcome.approval.runId, outcome.approval.nodeId)),
        ...("repeated" in outcome ? { repeated: true } : {})
      })
    })
}
