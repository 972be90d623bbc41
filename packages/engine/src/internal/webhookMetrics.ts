import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"

/** Tagged with `outcome`: `delivered`, `failed` (retried later) or `dead`. @internal */
export const attempts = Metric.counter("gatehouse_webhook_attempts_total", {
  description: "Webhook delivery attempts, by outcome",
  incremental: true
})

/** Seconds from an attempt's start to its answer (or its failure). @internal */
export const attemptDuration = Metric.histogram(
  "gatehouse_webhook_attempt_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 14 }),
  "Time a webhook delivery attempt took"
)

/** @internal */
export const reminders = Metric.counter("gatehouse_approval_reminders_total", {
  description: "Reminders emitted for approvals still waiting",
  incremental: true
})
