import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Models from "../approvals/models.js"
import { canonicalJson, sha256 } from "../canonical.js"
import * as Rows from "../rows.js"
import { forUpdate } from "./runs.js"
import type { Approvals } from "./storage.js"

/** @internal */
export type ApprovalStatus = Models.ApprovalStatus

/** @internal */
export const decidedStatuses: ReadonlyArray<string> = ["approved", "denied", "changes-requested", "timed-out"]

/** Who may decide, as stored (after escalation, the reviewers it was escalated to). @internal */
export type StoredReviewers = typeof Rows.StoredReviewers.Type

/** What the engine needs, outside the workflow's code, to judge a decision. @internal */
export type Policy = typeof Rows.ApprovalPolicy.Type

/** @internal */
export type ApprovalRow = Rows.ApprovalRow

const decodeApprovals = Rows.decodeAll(Rows.ApprovalRow, "gatehouse_approvals")
const decodeApproval = Rows.decodeFirst(Rows.ApprovalRow, "gatehouse_approvals")
const decodeVotes = Rows.decodeAll(Rows.VoteRow, "gatehouse_votes")
const decodeAggregate = Rows.decodeFirst(Rows.Aggregate, "an aggregate")
const decodeRequestedAt = Rows.decodeFirst(Rows.ApprovalRow.pipe(Schema.pick("requestedAt", "deadline")), "gatehouse_approvals")

/**
 * The hash of what a reviewer is shown. A decision made on another version of the request (an older
 * revision) carries another hash and is refused as stale.
 *
 * @internal
 */
export const requestHash = (request: {
  readonly title: string
  readonly summary: string | undefined
  readonly metadata: unknown
  readonly reviewed: unknown
  readonly revision: number
}): string =>
  sha256(canonicalJson({
    title: request.title,
    summary: request.summary ?? null,
    metadata: request.metadata ?? null,
    reviewed: request.reviewed ?? null,
    revision: request.revision
  }))

/** The principals an approval is assigned to, as rows of the inbox index. @internal */
export const principals = (reviewers: StoredReviewers): ReadonlyArray<string> =>
  reviewers.users.length === 0 && reviewers.roles.length === 0
    ? ["anyone"]
    : [...reviewers.users.map((user) => `user:${user}`), ...reviewers.roles.map((role) => `role:${role}`)]

/**
 * The principal under which the approvals `actor` voted on or decided are indexed among the assignees, so
 * that "decided by me" is an index range as a reviewer's inbox is. A reviewer's own principals are `user:`,
 * `role:` and `anyone`, never this one.
 *
 * @internal
 */
export const decider = (actor: string): string => `decided:${actor}`

/** The sort key of an approval without a deadline when ordering by deadline: after every real one. @internal */
export const noDeadline = Number.MAX_SAFE_INTEGER

/** @internal */
export const makeApprovalStore = (sql: SqlClient.SqlClient) => {
  const get = (runId: string, nodeId: string): Effect.Effect<Option.Option<ApprovalRow>, SqlError> =>
    sql`SELECT * FROM gatehouse_approvals WHERE run_id = ${runId} AND node_id = ${nodeId}`.pipe(
      Effect.flatMap(decodeApproval)
    )

  /**
   * A node id, or the base id of a review, whose latest revision is meant. `lock` takes the approval's
   * row lock on PostgreSQL, after the run's lock (see the lock order in `runs.ts`). The run's row is not
   * locked: a runner claiming the woken run (`SKIP LOCKED`) must not skip it because reviewers are busy.
   */
  const resolve: Approvals["resolve"] = (runId, nodeId, options = {}) => {
    const lock = options.lock ? forUpdate(sql) : sql``
    return sql`SELECT * FROM gatehouse_approvals WHERE run_id = ${runId} AND node_id = ${nodeId} ${lock}`.pipe(
      Effect.flatMap((rows) =>
        rows.length > 0 ? decodeApproval(rows) : sql`SELECT * FROM gatehouse_approvals
            WHERE run_id = ${runId} AND node_id = (SELECT node_id FROM gatehouse_approvals
              WHERE run_id = ${runId} AND base_id = ${nodeId} ORDER BY revision DESC LIMIT 1) ${lock}`.pipe(
          Effect.flatMap(decodeApproval)
        )
      )
    )
  }

  /**
   * A new approval with its assignees. On PostgreSQL one statement: an approval requested while many runs
   * suspend costs as few round trips as can be, inside its transaction (which the audit chain's lock ends).
   */
  const insert = (row: ApprovalRow): Effect.Effect<void, SqlError> => {
    const values = sql`(${row.runId}, ${row.nodeId}, ${row.baseId}, ${row.workflow}, ${row.status}, ${row.title},
      ${row.summary ?? null}, ${row.metadata === undefined ? null : JSON.stringify(row.metadata)},
      ${row.reviewed === undefined ? null : JSON.stringify(row.reviewed)}, ${row.requestHash}, ${row.revision},
      ${JSON.stringify(row.policy)}, ${JSON.stringify(row.reviewers)}, ${row.startedBy ?? null},
      ${row.deadline ?? null}, 0, ${row.requestedAt}, ${row.updatedAt},
      ${row.previous === undefined ? null : JSON.stringify(row.previous)})`
    const columns = sql.literal(`run_id, node_id, base_id, workflow, status, title, summary, metadata, reviewed,
      request_hash, revision, policy, reviewers, started_by, deadline, escalations, requested_at, updated_at, previous`)
    return sql.onDialectOrElse({
      pg: () =>
        sql`WITH approval AS (
            INSERT INTO gatehouse_approvals (${columns}) VALUES ${values}
            ON CONFLICT (run_id, node_id) DO NOTHING
            RETURNING run_id, node_id
          )
          INSERT INTO gatehouse_approval_assignees (run_id, node_id, principal, status, requested_at, deadline)
          SELECT a.run_id, a.node_id, p.principal, 'waiting-approval', ${row.requestedAt}, ${row.deadline ?? null}::bigint
          FROM approval a CROSS JOIN unnest(${principals(row.reviewers)}::text[]) AS p(principal)
          ON CONFLICT DO NOTHING`.pipe(Effect.asVoid),
      orElse: () =>
        Effect.gen(function*() {
          yield* sql`INSERT INTO gatehouse_approvals (${columns}) VALUES ${values}
            ON CONFLICT (run_id, node_id) DO NOTHING`
          yield* assign(row.runId, row.nodeId, row.reviewers, row.requestedAt, row.deadline)
        })
    })
  }

  const assign = (
    runId: string,
    nodeId: string,
    reviewers: StoredReviewers,
    requestedAt: number,
    deadline: number | undefined
  ) =>
    Effect.gen(function*() {
      yield* sql`DELETE FROM gatehouse_approval_assignees WHERE run_id = ${runId} AND node_id = ${nodeId}
        AND principal NOT LIKE 'decided:%'`
      yield* sql`INSERT INTO gatehouse_approval_assignees ${
        sql.insert(principals(reviewers).map((principal) => ({
          run_id: runId,
          node_id: nodeId,
          principal,
          status: "waiting-approval",
          requested_at: requestedAt,
          deadline: deadline ?? null
        })))
      }`
      yield* sql`UPDATE gatehouse_approval_assignees SET deadline = ${deadline ?? null}
        WHERE run_id = ${runId} AND node_id = ${nodeId} AND principal LIKE 'decided:%'`
    })

  /** Records the outcome if the approval is still waiting. False when another outcome won. */
  const settle: Approvals["settle"] = (options) =>
    Effect.gen(function*() {
      const updated = yield* sql`UPDATE gatehouse_approvals SET status = ${options.status},
          decision = ${JSON.stringify(options.decision)}, decided_at = ${options.now}, updated_at = ${options.now}
        WHERE run_id = ${options.runId} AND node_id = ${options.nodeId} AND status = 'waiting-approval'
        RETURNING node_id`
      if (updated.length === 0) return false
      yield* sql`UPDATE gatehouse_approval_assignees SET status = ${options.status}
        WHERE run_id = ${options.runId} AND node_id = ${options.nodeId}`
      yield* sql`UPDATE gatehouse_nodes SET status = ${options.status}, exit = ${JSON.stringify(options.decision)},
          completed_at = ${options.now}
        WHERE run_id = ${options.runId} AND node_id = ${options.nodeId}`
      return true
    })

  const escalate: Approvals["escalate"] = (options) =>
    Effect.gen(function*() {
      const updated = yield* sql`UPDATE gatehouse_approvals SET reviewers = ${JSON.stringify(options.reviewers)},
          deadline = ${options.deadline}, escalations = escalations + 1, updated_at = ${options.now}
        WHERE run_id = ${options.runId} AND node_id = ${options.nodeId} AND status = 'waiting-approval'
        RETURNING requested_at`
      if (updated.length === 0) return false
      const requestedAt = yield* decodeRequestedAt(updated)
      yield* assign(
        options.runId,
        options.nodeId,
        options.reviewers,
        Option.getOrThrow(requestedAt).requestedAt,
        options.deadline
      )
      yield* sql`UPDATE gatehouse_nodes SET fire_at = ${options.deadline}
        WHERE run_id = ${options.runId} AND node_id = ${options.nodeId}`
      return true
    })

  /**
   * Re-issues a waiting approval to other reviewers under a changed policy: a new round of votes (the
   * former reviewers' votes no longer count) and the new binding.
   */
  const reissue: Approvals["reissue"] = (options) =>
    Effect.gen(function*() {
      const updated = yield* sql`UPDATE gatehouse_approvals SET reviewers = ${JSON.stringify(options.reviewers)},
          policy = ${JSON.stringify(options.policy)}, escalations = escalations + 1, updated_at = ${options.now}
        WHERE run_id = ${options.runId} AND node_id = ${options.nodeId} AND status = 'waiting-approval'
        RETURNING requested_at, deadline`
      if (updated.length === 0) return false
      const kept = Option.getOrThrow(yield* decodeRequestedAt(updated))
      yield* assign(options.runId, options.nodeId, options.reviewers, kept.requestedAt, kept.deadline)
      return true
    })

  /**
   * Asks an approval of a resumed run again: the request as the code builds it now replaces the one on
   * record, in a new round of votes (the earlier votes no longer count), with the earlier decision kept as
   * `previous` for the reviewers to see.
   */
  const reopen: Approvals["reopen"] = (row) =>
    Effect.gen(function*() {
      yield* sql`UPDATE gatehouse_approvals SET status = 'waiting-approval', title = ${row.title},
          summary = ${row.summary ?? null}, metadata = ${row.metadata === undefined ? null : JSON.stringify(row.metadata)},
          reviewed = ${row.reviewed === undefined ? null : JSON.stringify(row.reviewed)},
          request_hash = ${row.requestHash}, revision = ${row.revision}, policy = ${JSON.stringify(row.policy)},
          reviewers = ${JSON.stringify(row.reviewers)}, deadline = ${row.deadline ?? null},
          escalations = escalations + 1, decision = NULL, decided_at = NULL, requested_at = ${row.requestedAt},
          updated_at = ${row.updatedAt}, previous = ${row.previous === undefined ? null : JSON.stringify(row.previous)}
        WHERE run_id = ${row.runId} AND node_id = ${row.nodeId}`
      yield* assign(row.runId, row.nodeId, row.reviewers, row.requestedAt, row.deadline)
      yield* sql`UPDATE gatehouse_approval_assignees SET status = 'waiting-approval', requested_at = ${row.requestedAt}
        WHERE run_id = ${row.runId} AND node_id = ${row.nodeId}`
    })

  /**
   * Indexes the approval under `actor`'s decider principal (see `decider`), with its status, request time and
   * deadline as they are now; `settle` keeps the status up to date afterwards.
   */
  const recordDecider = (runId: string, nodeId: string, actor: string): Effect.Effect<void, SqlError> =>
    sql`INSERT INTO gatehouse_approval_assignees (run_id, node_id, principal, status, requested_at, deadline)
      SELECT run_id, node_id, ${decider(actor)}, status, requested_at, deadline FROM gatehouse_approvals
      WHERE run_id = ${runId} AND node_id = ${nodeId}
      ON CONFLICT (run_id, node_id, principal) DO NOTHING`.pipe(Effect.asVoid)

  /** Every vote of the approval, of every round, oldest first. */
  const votes = (runId: string, nodeId: string): Effect.Effect<ReadonlyArray<Rows.VoteRow>, SqlError> =>
    sql`SELECT voter, verdict, note, payload, request_hash, round, created_at FROM gatehouse_votes
      WHERE run_id = ${runId} AND node_id = ${nodeId} ORDER BY created_at, round, voter`.pipe(
      Effect.flatMap(decodeVotes)
    )

  /** Records a vote in the approval's current round. */
  const insertVote: Approvals["insertVote"] = (vote) =>
    sql`INSERT INTO gatehouse_votes (run_id, node_id, round, voter, verdict, note, payload, request_hash, created_at)
      VALUES (${vote.runId}, ${vote.nodeId}, ${vote.round}, ${vote.voter}, ${vote.verdict}, ${vote.note ?? null},
        ${vote.payloadJson ?? null}, ${vote.requestHash}, ${vote.now})`.pipe(Effect.asVoid)

  const pendingCount = sql`SELECT COUNT(*) AS n FROM gatehouse_approvals
    WHERE status = 'waiting-approval'`.pipe(
    Effect.flatMap(decodeAggregate),
    Effect.map(Option.match({ onNone: () => 0, onSome: (row) => row.n ?? 0 }))
  )

  /**
   * The inbox: approvals in a status (any when absent), optionally of one workflow, assigned to one of
   * `principals`, voted on or decided by `decidedBy` (its audit entries, by the actor's index), in `order` after a
   * `(key, runId, nodeId)` cursor. The cursor is a row comparison, so that an index serves it as a range
   * (an `OR` of the same condition is only a filter): `requested` and `newest` read the `requested_at`
   * indexes forwards and backwards, `deadline` the indexes on `COALESCE(deadline, noDeadline)`. A
   * reviewer's inbox is read from the assignees' index, one range per principal merged: each gives its
   * first `limit`, and the first `limit` of their union are the page (any of them is in the first `limit`
   * of its own principal's range).
   */
  const list: Approvals["list"] = (options) => {
    const { after } = options
    // "Decided by" alone reads the decider's range of the assignees; beside a reviewer, it filters theirs.
    const byDecider = options.decidedBy !== undefined && options.principals === undefined
    const principals = byDecider ? [decider(options.decidedBy!)] : options.principals
    const decidedBy = byDecider ? undefined : options.decidedBy
    const descending = options.order === "newest"
    const direction = sql.literal(descending ? "DESC" : "ASC")
    // The same expression as the indexes' (a literal, not a parameter), or the planners cannot match it.
    const key = (table: string) =>
      sql.literal(options.order === "deadline" ? `COALESCE(${table}.deadline, ${noDeadline})` : `${table}.requested_at`)
    const orderBy = (table: string) =>
      sql`${key(table)} ${direction}, ${sql.literal(table)}.run_id ${direction}, ${sql.literal(table)}.node_id ${direction}`
    // SQLite does not take a row comparison whose first member is an indexed expression as a range of that
    // index: the bound on the key alone makes it one there (PostgreSQL takes either).
    const afterCursor = (table: string) =>
      after === undefined ? undefined : sql`${key(table)} ${sql.literal(descending ? "<=" : ">=")} ${after[0]}
        AND (${key(table)}, ${sql.literal(table)}.run_id, ${sql.literal(table)}.node_id) ${
        sql.literal(descending ? "<" : ">")
      } (${after[0]}, ${after[1]}, ${after[2]})`
    const approvalFilters = [
      options.workflow !== undefined ? sql`a.workflow = ${options.workflow}` : undefined,
      decidedBy !== undefined
        ? sql`(a.run_id, a.node_id) IN (SELECT au.run_id, au.node_id FROM gatehouse_audit au
            WHERE au.actor = ${decidedBy} AND au.action IN ('approval.voted', 'approval.decided'))`
        : undefined
    ]
    const where = (filters: ReadonlyArray<Statement.Fragment | undefined>) => {
      const defined = filters.filter((filter) => filter !== undefined)
      return defined.length > 0 ? sql.and(defined) : sql`1 = 1`
    }
    if (principals === undefined) {
      return sql`SELECT a.* FROM gatehouse_approvals a WHERE ${
        where([options.status !== undefined ? sql`a.status = ${options.status}` : undefined, ...approvalFilters, afterCursor("a")])
      } ORDER BY ${orderBy("a")} LIMIT ${options.limit}`.pipe(Effect.flatMap(decodeApprovals))
    }
    // One range of the assignees' index per principal, keys only (the approvals joined only when a filter
    // needs them), each its first `limit` in a subquery of its own (SQLite takes no ORDER BY or LIMIT in a
    // compound's member); UNION drops an approval assigned to several of the principals; then the page's
    // approvals are read by primary key.
    const filtered = approvalFilters.some((filter) => filter !== undefined)
    const branch = (principal: string, i: number) =>
      sql`SELECT * FROM (SELECT s.run_id, s.node_id, ${key("s")} AS k FROM gatehouse_approval_assignees s ${
        filtered ? sql`JOIN gatehouse_approvals a ON a.run_id = s.run_id AND a.node_id = s.node_id` : sql``
      } WHERE ${
        where([
          sql`s.principal = ${principal}`,
          options.status !== undefined ? sql`s.status = ${options.status}` : undefined,
          ...approvalFilters,
          afterCursor("s")
        ])
      } ORDER BY ${orderBy("s")} LIMIT ${options.limit}) ${sql.literal(`p${i}`)}`
    const union = sql.join(" UNION ", false)(principals.map(branch))
    return sql`SELECT a.* FROM (${union}) u JOIN gatehouse_approvals a ON a.run_id = u.run_id AND a.node_id = u.node_id
      ORDER BY u.k ${direction}, u.run_id ${direction}, u.node_id ${direction} LIMIT ${options.limit}`.pipe(
      Effect.flatMap(decodeApprovals)
    )
  }

  return {
    sql,
    get,
    resolve,
    insert,
    settle,
    escalate,
    reissue,
    reopen,
    recordDecider,
    votes,
    insertVote,
    pendingCount,
    list
  } as const
}
