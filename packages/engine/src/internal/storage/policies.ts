import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import { appendAudit, appendEvent } from "./events.js"
import * as PgWakeups from "./pgWakeups.js"
import * as Rows from "../rows.js"
import type { Policies } from "./storage.js"

const decodeActive = Rows.decodeFirst(Rows.ActivePolicyRow, "gatehouse_policies")
const decodeActivations = Rows.decodeAll(Rows.ActivePolicyRow, "gatehouse_policy_activations")
const decodeEvaluations = Rows.decodeAll(Rows.EvaluationRow, "gatehouse_policy_evaluations")

/**
 * The statements on policies: activations, evaluations and the throttle windows.
 *
 * @internal
 */
export const makePolicyStore = (sql: SqlClient.SqlClient) => {
  /** The latest activation: the policy every process evaluates now. */
  const active: Effect.Effect<Option.Option<Rows.ActivePolicyRow>, SqlError> = sql`SELECT p.snapshot_id, p.document,
      a.activated_by, a.activated_at
    FROM gatehouse_policy_activations a JOIN gatehouse_policies p ON p.snapshot_id = a.snapshot_id
    ORDER BY a.seq DESC LIMIT 1`.pipe(Effect.flatMap(decodeActive))

  const history = (limit: number): Effect.Effect<ReadonlyArray<Rows.ActivePolicyRow>, SqlError> =>
    sql`SELECT p.snapshot_id, p.document, a.activated_by, a.activated_at
      FROM gatehouse_policy_activations a JOIN gatehouse_policies p ON p.snapshot_id = a.snapshot_id
      ORDER BY a.seq DESC LIMIT ${limit}`.pipe(Effect.flatMap(decodeActivations))

  /** Stores the document (once per snapshot) and activates it, audited, in one transaction. */
  const activate: Policies["activate"] = (input) =>
    Effect.gen(function*() {
      yield* sql`INSERT INTO gatehouse_policies (snapshot_id, version, document, created_at)
        VALUES (${input.snapshotId}, ${input.version}, ${JSON.stringify(input.document)}, ${input.now})
        ON CONFLICT (snapshot_id) DO NOTHING`
      yield* sql`INSERT INTO gatehouse_policy_activations (snapshot_id, activated_by, activated_at)
        VALUES (${input.snapshotId}, ${input.by}, ${input.now})`
      yield* appendEvent(sql, {
        runId: undefined,
        type: "policy.activated",
        actor: input.by,
        data: { snapshotId: input.snapshotId },
        now: input.now
      })
      yield* appendAudit(sql, {
        runId: undefined,
        action: "policy.activated",
        actor: input.by,
        data: { snapshotId: input.snapshotId, version: input.version },
        now: input.now
      })
    }).pipe(PgWakeups.withTransaction(sql))

  /**
   * Records an evaluation and its audit entry, in a transaction (the caller's, when there is one): the
   * audit chain's lock holds only inside one.
   */
  const recordEvaluation: Policies["recordEvaluation"] = (input) =>
    Effect.gen(function*() {
      const { evaluation } = input
      yield* sql`INSERT INTO gatehouse_policy_evaluations (run_id, node_id, workflow, action_name, snapshot_id, rule_id,
          decision, action, action_hash, created_at)
        VALUES (${input.runId ?? null}, ${input.nodeId ?? null}, ${input.action.workflow},
          ${input.action.action ?? null}, ${evaluation.snapshotId}, ${evaluation.ruleId ?? null},
          ${JSON.stringify(evaluation.decision)}, ${JSON.stringify(input.action)}, ${evaluation.actionHash},
          ${input.now})`
      yield* appendAudit(sql, {
        runId: input.runId,
        nodeId: input.nodeId,
        action: "policy.evaluated",
        actor: input.actor,
        requestHash: evaluation.actionHash,
        data: {
          snapshotId: evaluation.snapshotId,
          ruleId: evaluation.ruleId ?? null,
          decision: evaluation.decision.decide,
          action: input.action.action ?? null
        },
        now: input.now
      })
    }).pipe(PgWakeups.withTransaction(sql))

  /**
   * Counts one action against its window, if the window has room: one statement, atomic under concurrent
   * processes (the upsert takes the window row's lock). Returns whether it was admitted.
   */
  const admit: Policies["admit"] = (input) =>
    sql`INSERT INTO gatehouse_policy_throttles (throttle_key, window_start, admitted)
      VALUES (${input.key}, ${input.windowStart}, 1)
      ON CONFLICT (throttle_key, window_start) DO UPDATE SET admitted = gatehouse_policy_throttles.admitted + 1
        WHERE gatehouse_policy_throttles.admitted < ${input.limit}
      RETURNING admitted`.pipe(Effect.map((rows) => rows.length > 0))

  /** Evaluations recorded since `since` (epoch ms), oldest first: what a backtest replays. */
  const evaluationsSince = (since: number, limit: number): Effect.Effect<ReadonlyArray<Rows.EvaluationRow>, SqlError> =>
    sql`SELECT seq, run_id, node_id, snapshot_id, rule_id, decision, action, action_hash, created_at
      FROM gatehouse_policy_evaluations WHERE created_at >= ${since} ORDER BY created_at, seq LIMIT ${limit}`.pipe(
      Effect.flatMap(decodeEvaluations)
    )

  /** A run's evaluations, in order. */
  const evaluationsOf = (runId: string): Effect.Effect<ReadonlyArray<Rows.EvaluationRow>, SqlError> =>
    sql`SELECT seq, run_id, node_id, snapshot_id, rule_id, decision, action, action_hash, created_at
      FROM gatehouse_policy_evaluations WHERE run_id = ${runId} ORDER BY seq`.pipe(Effect.flatMap(decodeEvaluations))

  return { active, history, activate, recordEvaluation, admit, evaluationsSince, evaluationsOf } as const
}
