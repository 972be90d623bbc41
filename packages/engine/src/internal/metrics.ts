import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/** @internal */
export const approvalsRequested = Metric.counter("gatehouse_approvals_requested_total", {
  description: "Approvals requested",
  incremental: true
})

/** Tagged with `verdict`. @internal */
export const approvalsDecided = Metric.counter("gatehouse_approvals_decided_total", {
  description: "Approvals decided, by verdict",
  incremental: true
})

/** @internal */
export const approvalsAlreadyDecided = Metric.counter("gatehouse_approvals_already_decided_total", {
  description: "Repeats of a winning decision answered already-decided",
  incremental: true
})

/** @internal */
export const approvalsStale = Metric.counter("gatehouse_approvals_stale_total", {
  description: "Decisions refused because the reviewer saw a request that is no longer current",
  incremental: true
})

/** @internal */
export const approvalsTimedOut = Metric.counter("gatehouse_approvals_timed_out_total", {
  description: "Approvals that reached their deadline undecided",
  incremental: true
})

/** @internal */
export const approvalsEscalated = Metric.counter("gatehouse_approvals_escalated_total", {
  description: "Approvals re-assigned to other reviewers at their deadline",
  incremental: true
})

/** @internal */
export const approvalsPending = Metric.gauge("gatehouse_approvals_pending", {
  description: "Approvals waiting for a decision, as last counted (on every scrape, by Workflows.refreshMetrics)"
})

/** Seconds from request to decision. @internal */
export const decisionWait = Metric.histogram(
  "gatehouse_approval_decision_wait_seconds",
  MetricBoundaries.exponential({ start: 1, factor: 4, count: 12 }),
  "Time from an approval's request to its decision"
)

/** @internal */
export const runnerTakeovers = Metric.counter("gatehouse_runner_takeovers_total", {
  description: "Runs claimed from a runner whose lease had expired (a runner that died or stalled)",
  incremental: true
})

/** @internal */
export const leaseRenewalFailures = Metric.counter("gatehouse_lease_renewal_failures_total", {
  description: "Lease renewals that failed or went unanswered within their bound (each one also logged)",
  incremental: true
})

/** Tagged with `status`: runs in each status, as last counted (`Workflows.refreshMetrics`). @internal */
export const runs = Metric.gauge("gatehouse_runs", {
  description: "Runs by status, as last counted"
})

/** Seconds a step's effect took, its retries included (not counted on replay). @internal */
export const stepDuration = Metric.histogram(
  "gatehouse_step_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 16 }),
  "Time a step's effect took to produce its outcome, retries included"
)
