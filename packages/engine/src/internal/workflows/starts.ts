/**
 * Starts, as `Workflows.start` and `startMany` persist them: where no policy was ever activated, a batch
 * of runs is one statement; otherwise each start goes through the active policy (`deny`, `throttle`,
 * `require_human` with its start gate), in order.
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Policy from "../../Policy.js"
import * as Run from "../../Run.js"
import { formatError } from "../codec.js"
import * as PolicyGate from "../policyGate.js"
import type { StartGate } from "../rows.js"
import type * as Storage from "../storage.js"
import type { StartInput } from "./models.js"

const ruleOf = (evaluation: Policy.Evaluation) => evaluation.ruleId === undefined ? {} : { ruleId: evaluation.ruleId }

/**
 * `start` and `startMany` on a storage.
 *
 * @internal
 */
export const make = (storage: Storage.Storage["Type"]) => {
  const { policies, runs: store, signals } = storage

  const actionOf = (run: StartInput) =>
    Schema.decodeUnknown(Policy.Action)({
      workflow: run.workflow,
      ...(run.labels !== undefined ? { labels: run.labels } : {}),
      ...(run.startedBy !== undefined ? { actor: run.startedBy } : {}),
      ...(run.roles !== undefined ? { roles: run.roles } : {}),
      input: run.payload
    }).pipe(Effect.mapError((error) => new Run.InvalidPayload({ workflow: run.workflow, reason: formatError(error) })))

  const ungovernedRun = (run: StartInput) => ({
    id: run.runId,
    workflow: run.workflow,
    idempotencyKey: run.idempotencyKey,
    payload: JSON.stringify(run.payload),
    startedBy: run.startedBy
  })

  /** A start where a policy was activated: the policy decides, the run's start gate and evaluation are stored with it. */
  const startGoverned = (run: StartInput, action: Policy.Action, now: number) =>
    Effect.gen(function*() {
      const insert = (startGate: StartGate | undefined, andThen?: Effect.Effect<void, SqlError>) =>
        store.insertRun({ ...ungovernedRun(run), startGate, now }, andThen)
      const policy = yield* PolicyGate.activeIn(policies)
      let created: boolean
      if (Option.isNone(policy)) {
        created = yield* insert(undefined)
      } else {
        // Starting an existing run again finds it: nothing is evaluated, counted or recorded.
        if (Option.isSome(yield* store.getRun(run.runId))) return false
        const verdict = yield* PolicyGate.verdictIn(policies, policy.value, action, now)
        if (verdict._tag === "NoPolicy") return yield* Effect.dieMessage("a policy is active")
        const record = (runId: string | undefined) =>
          policies.recordEvaluation({
            runId,
            nodeId: undefined,
            evaluation: verdict.evaluation,
            action,
            actor: run.startedBy ?? "anonymous",
            now
          })
        const refused = { workflow: run.workflow, snapshotId: verdict.evaluation.snapshotId, ...ruleOf(verdict.evaluation) }
        if (verdict._tag === "Deny") {
          yield* record(undefined)
          return yield* new Policy.PolicyDenied({ ...refused, reason: verdict.reason })
        }
        if (verdict._tag === "Throttled") {
          yield* record(undefined)
          return yield* new Policy.Throttled({ ...refused, key: verdict.key, limit: verdict.limit, retryAt: verdict.retryAt })
        }
        const startGate = verdict._tag === "RequireHuman"
          ? { approval: verdict.approval, binding: PolicyGate.bindingOf(action, verdict.evaluation) }
          : undefined
        created = yield* insert(startGate, record(run.runId))
      }
      if (created) yield* signals.work.notify
      return created
    })

  // Where no policy was ever activated a start is one statement (and a batch of starts, one too);
  // otherwise each start goes through the policy.
  const startMany = (runs: ReadonlyArray<StartInput>) =>
    Effect.gen(function*() {
      if (runs.length === 0) return []
      const now = yield* Clock.currentTimeMillis
      const actions = yield* Effect.forEach(runs, actionOf)
      const batch = yield* store.insertRuns(runs.map(ungovernedRun), now)
      if (!batch.governed) {
        if (batch.created.size > 0) yield* signals.work.notify
        const reported = new Set<string>()
        return runs.map((run) => batch.created.has(run.runId) && !reported.has(run.runId) && reported.add(run.runId) !== undefined)
      }
      return yield* Effect.forEach(runs, (run, index) => startGoverned(run, actions[index], now))
    })

  const start = (run: StartInput) => Effect.map(startMany([run]), (created) => created[0] === true)

  return { start, startMany } as const
}
