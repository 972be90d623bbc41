import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Run from "../../Run.js"
import { appendAudit, appendEvent } from "./events.js"
import * as Checkpoint from "./checkpoint.js"
import * as PgWakeups from "./pgWakeups.js"
import * as Rows from "../rows.js"
import type { NodeRow, RunRow } from "../rows.js"
import type { ClaimedRun, Journal, Leases, NewNode, NewRun, Repair, RunEnd, Runs, Suspension } from "./storage.js"

export type { ClaimedRun, NewNode } from "./storage.js"

export type { NodeRow, RunRow } from "../rows.js"

const decodeRuns = Rows.decodeAll(Rows.RunRow, "gatehouse_runs")
const decodeRun = Rows.decodeFirst(Rows.RunRow, "gatehouse_runs")
const decodeNodes = Rows.decodeAll(Rows.NodeRow, "gatehouse_nodes")
const decodeNode = Rows.decodeFirst(Rows.NodeRow, "gatehouse_nodes")
const decodeAggregate = Rows.decodeFirst(Rows.Aggregate, "an aggregate")
const decodeStatusCounts = Rows.decodeAll(Schema.Struct({ status: Schema.String, n: Rows.Int }), "gatehouse_runs")
const decodeJsonSchema = Rows.decodeFirst(
  Schema.Struct({ n: Schema.optionalWith(Rows.JsonText, { nullable: true }) }),
  "gatehouse_nodes"
)
const decodeWakeAt = Rows.decodeFirst(Rows.WakeAt, "gatehouse_runs")
const decodeStatuses = Rows.decodeAll(Rows.RunRow.pipe(Schema.pick("status")), "gatehouse_runs")

/** A run as the client API reports it: the row, less what only the runner needs. @internal */
export const toSummary = (
  { claimLink: _link, forkNode, forkSeq: _seq, forkedFrom, forks, id, startGate: _gate, wakeSeq: _, ...row }: RunRow
): Run.Summary =>
  new Run.Summary({
    ...row,
    runId: Run.RunId.make(id),
    ...(forkedFrom !== undefined ? { forkedFrom: { runId: forkedFrom, nodeId: forkNode ?? "" } } : {}),
    ...(forks !== undefined && forks.length > 0 ? { forks } : {})
  })

/**
 * What a claimed run's approvals check their earlier decisions against (see `Repair`): none for a run
 * never resumed nor forked.
 *
 * @internal
 */
export const repairOf = (run: RunRow): Repair | undefined =>
  run.forkedFrom !== undefined
    ? { runId: run.forkedFrom, beforeSeq: run.forkSeq ?? 0 }
    : run.repairs > 0
    ? { runId: run.id, beforeSeq: undefined }
    : undefined

/** @internal */
export const toNode = (row: NodeRow): Run.Node => new Run.Node(row)


/**
 * The clock leases are measured on. On PostgreSQL it is the database's own clock, read when the statement
 * runs: every runner, on whatever machine, compares lease times against one clock, so a runner whose
 * clock is ahead can never see a live runner's lease as expired (and a statement that waited for a
 * connection still grants a full lease). On SQLite (one file, one machine) it is the runner's `Clock`.
 * Timers and approval deadlines stay on Effect's `Clock` on every dialect.
 *
 * @internal
 */
export const leaseNow = (sql: SqlClient.SqlClient, now: number) =>
  sql.onDialectOrElse({
    pg: () => sql.literal("(extract(epoch from clock_timestamp()) * 1000)::bigint"),
    orElse: () => sql`${now}`
  })

/** A row lock on PostgreSQL; nothing on SQLite, whose writers are serialized anyway. @internal */
export const forUpdate = (sql: SqlClient.SqlClient, modifier?: "SKIP LOCKED") =>
  sql.onDialectOrElse({
    pg: () => sql.literal(modifier === undefined ? "FOR UPDATE" : `FOR UPDATE ${modifier}`),
    orElse: () => sql.literal("")
  })

// A run whose lease expired is taken over, but never one the claiming runner is executing right now (a
// late renewal is not a death). A run of its own that it no longer executes (its release failed while
// the database was unreachable) it may take back, or that run would stay stuck under its name.
const claimableWhere = (
  sql: SqlClient.SqlClient,
  names: ReadonlyArray<string>,
  now: number,
  executing: ReadonlyArray<string>
) =>
  sql`workflow IN ${sql.in(names)} AND (
    status IN ('pending', 'runnable')
    OR (status IN ('suspended', 'waiting-approval') AND wake_at <= ${now})
    OR (status = 'running' AND lease_expires_at < ${leaseNow(sql, now)}${
    executing.length > 0 ? sql` AND id NOT IN ${sql.in(executing)}` : sql``
  })
  )`

/**
 * Every statement the engine runs against its tables. A checkpoint is a single statement fenced on the
 * run's lease, so a runner that lost its lease can never write into a journal another runner owns.
 *
 * ## Lock order
 *
 * Every transaction that changes a run's state, its approvals or its nodes takes its locks in one order,
 * so no two of them ever wait for each other in a cycle (PostgreSQL's deadlock, 40P01):
 *
 * 1. first, the run's lock (`lockRun`): a transaction-scoped advisory lock keyed by the run id. It
 *    serializes these transactions per run, so their row locks on that run's rows never interleave;
 * 2. then only that run's rows (`gatehouse_runs`, `gatehouse_approvals`, `gatehouse_approval_assignees`,
 *    `gatehouse_votes`, `gatehouse_nodes`), never another run's; the outbox takes inserts only;
 * 3. last, the audit chain's advisory lock (`appendAudit`): nothing is locked after it.
 *
 * The writers that follow it: `Workflows.cancel`, `Workflows.completeDeferred`, `Approvals.decide`,
 * `finishRun` (a run completing or failing), and the runner's approval request, deadline and escalation
 * (`internal/approvalRequest.ts`). An acknowledged cancel is never lost: a decision either committed
 * before the cancel took the run's lock (and the cancel then ends the woken run), or it finds the approval
 * closed. The run's lock is an advisory lock, not the row's `FOR UPDATE`, and decisions and completions
 * write the run's row last (the wake): runners claim with `FOR UPDATE SKIP LOCKED`, and a claim must not
 * skip a run that was just woken because reviewers are still queued on it. Single-statement writers
 * (claims, checkpoints, lease renewals, suspensions, releases) wait for at most one run's rows and hold
 * nothing another transaction waits for while they do. SQLite has a single writer: the order holds
 * trivially.
 *
 * @internal
 */
export const makeStore = (client: SqlClient.SqlClient) => {
  const sql = client.withoutTransforms()
  const fence = (runId: string, owner: string) => Checkpoint.fence(sql, runId, owner)

  /** The run's lock, first of the lock order: held until the transaction ends. */
  const lockRun = (runId: string): Effect.Effect<void, SqlError> =>
    sql.onDialectOrElse({
      pg: () => sql`SELECT pg_advisory_xact_lock(7253002, hashtext(${runId}))`.pipe(Effect.asVoid),
      orElse: () => Effect.void
    })

  /**
   * Closes everything of the run still open when it ends, by any path: waiting nodes (deferreds, timers,
   * approvals) and waiting approvals with their assignees become `canceled`, and each closed approval
   * gets an `approval.canceled` event and an audit entry. Called under the run's lock, after the run's row.
   */
  const closeOpenWork: Runs["closeOpenWork"] = (options) =>
    Effect.gen(function*() {
      const { now, runId } = options
      const approvals = yield* sql<{ node_id: string; request_hash: string }>`UPDATE gatehouse_approvals
        SET status = 'canceled', updated_at = ${now}
        WHERE run_id = ${runId} AND status = 'waiting-approval'
        RETURNING node_id, request_hash`
      if (approvals.length > 0) {
        yield* sql`UPDATE gatehouse_approval_assignees SET status = 'canceled'
          WHERE run_id = ${runId} AND status = 'waiting-approval'`
      }
      yield* sql`UPDATE gatehouse_nodes SET status = 'canceled', completed_at = ${now}
        WHERE run_id = ${runId} AND status IN ('waiting', 'requested', 'waiting-approval')`
      const closed = [...approvals].sort((a, b) => a.node_id < b.node_id ? -1 : a.node_id > b.node_id ? 1 : 0)
      yield* appendEvent(sql, options.runEvent)
      for (const approval of closed) {
        yield* appendEvent(sql, {
          runId,
          nodeId: approval.node_id,
          type: "approval.canceled",
          actor: options.actor,
          data: { reason: options.reason },
          now
        })
      }
      if (options.runAudit !== undefined) yield* appendAudit(sql, options.runAudit)
      for (const approval of closed) {
        yield* appendAudit(sql, {
          runId,
          nodeId: approval.node_id,
          action: "approval.canceled",
          actor: options.actor,
          requestHash: approval.request_hash,
          data: { reason: options.reason },
          now
        })
      }
    })

  const insertRun: Runs["insertRun"] = (run, andThen = Effect.void) =>
    sql`INSERT INTO gatehouse_runs (id, workflow, idempotency_key, payload, status, started_by, start_gate, created_at,
        updated_at)
      VALUES (${run.id}, ${run.workflow}, ${run.idempotencyKey ?? null}, ${run.payload}, 'pending',
        ${run.startedBy ?? null}, ${run.startGate === undefined ? null : JSON.stringify(run.startGate)}, ${run.now},
        ${run.now})
      ON CONFLICT (id) DO NOTHING
      RETURNING id`.pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.tap((created) =>
        created
          ? appendEvent(sql, {
            runId: run.id,
            type: "run.started",
            actor: run.startedBy,
            data: { workflow: run.workflow },
            now: run.now
          }).pipe(Effect.zipRight(andThen), Effect.zipRight(PgWakeups.notify(sql, run.id)))
          : Effect.void
      ),
      PgWakeups.withTransaction(sql)
    )

  /**
   * Starts runs where no policy was ever activated (the usual case): every run with its `run.started`
   * event, in one statement on PostgreSQL (one transaction on SQLite), with a single wake-up for the batch.
   * A run whose id exists is left as it is (idempotent starts). `governed` is true when a policy was
   * activated: then nothing was written, and each start must go through the policy (`insertRun`).
   */
  const insertRuns = (
    runs: ReadonlyArray<NewRun>,
    now: number
  ): Effect.Effect<{ readonly governed: boolean; readonly created: ReadonlySet<string> }, SqlError> => {
    // The same run twice in one batch is started once.
    const seen = new Set<string>()
    runs = runs.filter((run) => !seen.has(run.id) && seen.add(run.id) !== undefined)
    const column = <A>(f: (run: (typeof runs)[number]) => A) => runs.map(f)
    const started = column((run) => JSON.stringify({ workflow: run.workflow }))
    const wakeUp = (created: ReadonlySet<string>) =>
      created.size === 0 ? Effect.void : PgWakeups.notifyCommitted(sql, created.size === 1 ? created.values().next().value! : "started")
    return sql.onDialectOrElse({
      pg: () =>
        sql<{ governed: boolean; id: string | null }>`WITH governed AS (
            SELECT EXISTS (SELECT 1 FROM gatehouse_policy_activations) AS yes
          ),
          created AS (
            INSERT INTO gatehouse_runs (id, workflow, idempotency_key, payload, status, started_by, start_gate,
              created_at, updated_at)
            SELECT t.id, t.workflow, t.idempotency_key, t.payload, 'pending', t.started_by, NULL, ${now}, ${now}
            FROM unnest(${column((run) => run.id)}::text[], ${column((run) => run.workflow)}::text[],
              ${column((run) => run.idempotencyKey ?? null)}::text[], ${column((run) => run.payload)}::text[],
              ${column((run) => run.startedBy ?? null)}::text[], ${started}::text[])
              WITH ORDINALITY AS t(id, workflow, idempotency_key, payload, started_by, started, ord)
            WHERE NOT (SELECT yes FROM governed)
            ORDER BY t.ord
            ON CONFLICT (id) DO NOTHING
            RETURNING id, started_by
          ),
          events AS (
            INSERT INTO gatehouse_events (run_id, type, actor, data, created_at)
            SELECT c.id, 'run.started', c.started_by, t.started, ${now}
            FROM created c JOIN unnest(${column((run) => run.id)}::text[], ${started}::text[]) AS t(id, started)
              ON t.id = c.id
          )
          SELECT g.yes AS governed, c.id FROM governed g LEFT JOIN created c ON TRUE`.pipe(
          Effect.map((rows) => ({
            governed: rows[0]?.governed === true,
            created: new Set(rows.flatMap((row) => row.id === null ? [] : [row.id]))
          })),
          Effect.tap(({ created }) => wakeUp(created))
        ),
      orElse: () =>
        Effect.gen(function*() {
          const governed = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM gatehouse_policy_activations`
          if (Number(governed[0]?.n ?? 0) > 0) return { governed: true, created: new Set<string>() }
          const created = new Set<string>()
          for (const [index, run] of runs.entries()) {
            const inserted = yield* sql`INSERT INTO gatehouse_runs (id, workflow, idempotency_key, payload, status,
                started_by, created_at, updated_at)
              VALUES (${run.id}, ${run.workflow}, ${run.idempotencyKey ?? null}, ${run.payload}, 'pending',
                ${run.startedBy ?? null}, ${now}, ${now})
              ON CONFLICT (id) DO NOTHING
              RETURNING id`
            if (inserted.length === 0) continue
            created.add(run.id)
            yield* sql`INSERT INTO gatehouse_events (run_id, type, actor, data, created_at)
              VALUES (${run.id}, 'run.started', ${run.startedBy ?? null}, ${started[index]}, ${now})`
          }
          return { governed: false, created }
        }).pipe(sql.withTransaction)
    })
  }

  const getRun = (id: string): Effect.Effect<Option.Option<RunRow>, SqlError> =>
    sql`SELECT * FROM gatehouse_runs WHERE id = ${id}`.pipe(
      Effect.flatMap(decodeRun))

  const claim: Leases["claim"] = (options) => {
    if (options.names.length === 0 || options.limit <= 0) return Effect.succeed([])
    const candidates = sql`SELECT id FROM gatehouse_runs
      WHERE ${claimableWhere(sql, options.names, options.now, options.executing)}
      ORDER BY updated_at LIMIT ${options.limit} ${forUpdate(sql, "SKIP LOCKED")}`
    return sql`UPDATE gatehouse_runs SET status = 'running', lease_owner = ${options.owner},
        lease_expires_at = ${leaseNow(sql, options.now)} + ${options.leaseMillis}, claims = claims + 1,
        updated_at = ${options.now},
        taken_over_from = CASE WHEN status = 'running' THEN lease_owner ELSE NULL END,
        claim_link = wake_link, wake_link = NULL
      WHERE id IN (${candidates})
      RETURNING *`.pipe(
      Effect.flatMap(decodeRuns),
      Effect.map((runs) =>
        runs.map((run): ClaimedRun => ({
          id: run.id,
          workflow: run.workflow,
          payload: run.payload,
          startedBy: run.startedBy,
          wakeSeq: run.wakeSeq,
          claims: run.claims,
          takenOverFrom: run.takenOverFrom,
          link: run.claimLink,
          startGate: run.startGate,
          repair: repairOf(run)
        }))
      )
    )
  }

  const loadJournal = (runId: string): Effect.Effect<ReadonlyArray<NodeRow>, SqlError> =>
    sql`SELECT * FROM gatehouse_nodes WHERE run_id = ${runId} ORDER BY seq, started_at, node_id`.pipe(
      Effect.flatMap(decodeNodes)
    )

  /** The journals of many runs in one query (the runs a claim took), each in the order `loadJournal` gives. */
  const loadJournals = (
    runIds: ReadonlyArray<string>
  ): Effect.Effect<ReadonlyMap<string, ReadonlyArray<NodeRow>>, SqlError> =>
    runIds.length === 0 ? Effect.succeed(new Map()) : sql<{ run_id: string }>`SELECT * FROM gatehouse_nodes
      WHERE run_id IN ${sql.in(runIds)} ORDER BY run_id, seq, started_at, node_id`.pipe(
      Effect.flatMap((rows) =>
        Effect.map(decodeNodes(rows), (nodes) => {
          const journals = new Map<string, Array<NodeRow>>(runIds.map((runId) => [runId, []]))
          nodes.forEach((node, index) => journals.get(rows[index].run_id)?.push(node))
          return journals
        })
      )
    )

  const nodeValues = (node: NewNode) => Checkpoint.nodeValues(sql, node)

  /**
   * Writes a node that is waiting (a timer, a deferred) unless it exists, and returns the row as it
   * now stands, so a completion that raced ahead of the write is seen. `None` when the lease is lost.
   */
  const ensureNode = (owner: string, node: NewNode): Effect.Effect<Option.Option<NodeRow>, SqlError> =>
    sql`INSERT INTO gatehouse_nodes (run_id, node_id, kind, status, exit, attempt, seq, fire_at, started_at, completed_at,
        json_schema)
      ${nodeValues(node)}, ${node.jsonSchema === undefined ? null : JSON.stringify(node.jsonSchema)}
      WHERE ${fence(node.runId, owner)}
      ON CONFLICT (run_id, node_id) DO UPDATE SET json_schema = COALESCE(gatehouse_nodes.json_schema, excluded.json_schema)
      RETURNING *`.pipe(Effect.flatMap(decodeNode))

  /**
   * The checkpoint: one statement that records a node's Exit, fenced on the lease. Returns false when
   * the lease was lost (or the run canceled), and then nothing was written.
   */
  const checkpoint = (owner: string, node: NewNode): Effect.Effect<boolean, SqlError> =>
    sql.onDialectOrElse({
      // The two forms of one write, side by side in `checkpoint.ts`: the function of migration 0004 here.
      pg: () =>
        sql<{ written: boolean }>`SELECT gatehouse_checkpoint(${node.runId}, ${owner}, ${node.nodeId}, ${node.kind},
          ${node.status}, ${node.exit === undefined ? null : JSON.stringify(node.exit)}, ${node.attempt}, ${node.seq},
          ${node.fireAt ?? null}, ${node.now}) AS written`.pipe(Effect.map((rows) => rows[0]?.written === true)),
      orElse: () => Checkpoint.sqliteStatement(sql, owner, node).pipe(Effect.map((rows) => rows.length > 0))
    })

  /**
   * Many checkpoints in one transaction (see `groupCommit.ts`), each fenced on its own run's lease:
   * the answer says, in the order given, which were written. On PostgreSQL one statement applies
   * `gatehouse_checkpoint` to every row, in the order of (run, node) so that two batches never lock rows in
   * opposite orders; elsewhere the single statements run in one transaction.
   */
  const checkpointMany = (
    entries: ReadonlyArray<{ readonly owner: string; readonly node: NewNode }>
  ): Effect.Effect<ReadonlyArray<boolean>, SqlError> => {
    return sql.onDialectOrElse({
      pg: () => {
        const order = entries.map((_, index) => index).sort((a, b) => {
          const x = entries[a].node
          const y = entries[b].node
          return x.runId < y.runId ? -1 : x.runId > y.runId ? 1 : x.nodeId < y.nodeId ? -1 : x.nodeId > y.nodeId ? 1 : 0
        })
        const column = <A>(f: (entry: (typeof entries)[number]) => A) => order.map((index) => f(entries[index]))
        return sql<{ ord: string | number; written: boolean }>`SELECT t.ord, gatehouse_checkpoint(t.run_id, t.owner,
            t.node_id, t.kind, t.status, t.exit, t.attempt, t.seq, t.fire_at, t.now) AS written
          FROM unnest(${column((e) => e.node.runId)}::text[], ${column((e) => e.owner)}::text[],
            ${column((e) => e.node.nodeId)}::text[], ${column((e) => e.node.kind)}::text[],
            ${column((e) => e.node.status)}::text[],
            ${column((e) => e.node.exit === undefined ? null : JSON.stringify(e.node.exit))}::text[],
            ${column((e) => e.node.attempt)}::int[], ${column((e) => e.node.seq)}::int[],
            ${column((e) => e.node.fireAt ?? null)}::bigint[], ${column((e) => e.node.now)}::bigint[])
            WITH ORDINALITY AS t(run_id, owner, node_id, kind, status, exit, attempt, seq, fire_at, now, ord)
          ORDER BY t.ord`.pipe(
          Effect.map((rows) => {
            const written = new Array<boolean>(entries.length).fill(false)
            for (const row of rows) written[order[Number(row.ord) - 1]] = row.written === true
            return written
          })
        )
      },
      orElse: () =>
        Effect.forEach(entries, ({ node, owner }) => checkpoint(owner, node)).pipe(sql.withTransaction)
    })
  }

  const endEventOf = (end: RunEnd) => ({
    type: end.status === "completed" ? "run.completed" : "run.failed",
    data: end.error === undefined ? undefined : { error: end.error }
  })

  /** The end of a run in a transaction that also closes whatever it still waits on. */
  const finishInTransaction = (end: RunEnd): Effect.Effect<Option.Option<RunRow>, SqlError> =>
    Effect.gen(function*() {
      const { now, runId } = end
      yield* lockRun(runId)
      const finished = yield* sql`UPDATE gatehouse_runs SET status = ${end.status}, result = ${JSON.stringify(end.result)},
          error = ${end.error ?? null}, lease_owner = NULL, lease_expires_at = NULL, wake_at = NULL,
          updated_at = ${now}, completed_at = ${now}
        WHERE id = ${runId} AND lease_owner = ${end.owner} AND status = 'running'
        RETURNING *`.pipe(Effect.flatMap(decodeRun))
      if (Option.isNone(finished)) return finished
      // Whatever the run still waited on (an approval that lost a race against a timer) can no longer matter.
      yield* closeOpenWork({
        runId,
        now,
        actor: "system",
        reason: end.status === "completed" ? "run-completed" : "run-failed",
        runEvent: { runId, ...endEventOf(end), now }
      })
      return finished
    }).pipe(PgWakeups.withTransaction(sql))

  /**
   * Ends runs their owner finished: each run's row, its event, and everything of it still open closed (see
   * `closeOpenWork`). For each, in the order given, the finished row, or `None` when its lease was lost
   * (nothing was written for it).
   *
   * On PostgreSQL the usual case, runs with nothing left open, is one statement for all of them (its own
   * transaction, under each run's lock, taken in the order of the run ids); a run that still waits on
   * something (an approval that lost a race against a timer) ends in a transaction of its own that also
   * closes it, with its events and audit entries. Elsewhere, one transaction.
   */
  const finishRuns = (ends: ReadonlyArray<RunEnd>): Effect.Effect<ReadonlyArray<Option.Option<RunRow>>, SqlError> =>
    sql.onDialectOrElse({
      pg: () => {
        const column = <A>(f: (end: RunEnd) => A) => ends.map(f)
        const events = ends.map(endEventOf)
        return sql`WITH input AS (
            SELECT * FROM unnest(${column((end) => end.runId)}::text[], ${column((end) => end.owner)}::text[],
              ${column((end) => end.status)}::text[], ${column((end) => JSON.stringify(end.result))}::text[],
              ${column((end) => end.error ?? null)}::text[], ${column((end) => end.now)}::bigint[],
              ${events.map((event) => event.type)}::text[],
              ${events.map((event) => event.data === undefined ? null : JSON.stringify(event.data))}::text[])
              AS t(id, owner, status, result, error, now, event_type, event_data)
          ),
          run_locks AS (
            SELECT pg_advisory_xact_lock(7253002, hashtext(o.id)) FROM (SELECT id FROM input ORDER BY id) o
          ),
          finished AS (
            UPDATE gatehouse_runs r SET status = i.status, result = i.result, error = i.error, lease_owner = NULL,
              lease_expires_at = NULL, wake_at = NULL, updated_at = i.now, completed_at = i.now
            FROM input i
            WHERE r.id = i.id AND r.lease_owner = i.owner AND r.status = 'running'
              AND (SELECT COUNT(*) FROM run_locks) >= 0
              AND NOT EXISTS (SELECT 1 FROM gatehouse_approvals a WHERE a.run_id = i.id AND a.status = 'waiting-approval')
              AND NOT EXISTS (SELECT 1 FROM gatehouse_nodes n WHERE n.run_id = i.id
                AND n.status IN ('waiting', 'requested', 'waiting-approval'))
            RETURNING r.*
          ),
          run_events AS (
            INSERT INTO gatehouse_events (run_id, node_id, type, actor, data, created_at)
            SELECT f.id, NULL, i.event_type, NULL, i.event_data, i.now FROM finished f JOIN input i ON i.id = f.id
          )
          SELECT * FROM finished`.pipe(
          Effect.flatMap(decodeRuns),
          Effect.flatMap((rows) => {
            const byId = new Map(rows.map((row) => [row.id, row]))
            // Not finished by the statement: its lease is gone, or something is still open (then its own transaction).
            return Effect.forEach(ends, (end) => {
              const row = byId.get(end.runId)
              return row !== undefined ? Effect.succeed(Option.some(row)) : finishInTransaction(end)
            })
          })
        )
      },
      orElse: () => Effect.forEach(ends, finishInTransaction).pipe(sql.withTransaction)
    })

  /** Ends one run its owner finished (see `finishRuns`). */
  const finishRun = (end: RunEnd): Effect.Effect<Option.Option<RunRow>, SqlError> =>
    Effect.map(finishRuns([end]), (finished) => finished[0])

  /**
   * Stores runs as suspended, each unless something woke it while it was being suspended (the wake
   * sequence moved on): then it becomes runnable at once, so no completion is ever lost at the suspension
   * boundary. For each, in the order given, the status stored, or `None` when its lease was lost. One
   * statement for them all, their rows taken in the order of the run ids.
   */
  const suspendRuns = (
    suspensions: ReadonlyArray<Suspension>
  ): Effect.Effect<ReadonlyArray<Option.Option<Run.RunStatus>>, SqlError> => {
    const column = <A>(f: (suspension: Suspension) => A) => suspensions.map(f)
    return sql<{ id: string }>`UPDATE gatehouse_runs AS r SET
        status = CASE WHEN r.wake_seq = i.wake_seq THEN i.status ELSE 'runnable' END,
        wake_at = i.wake_at, lease_owner = NULL, lease_expires_at = NULL, updated_at = i.now
      FROM (SELECT * FROM ${
      sql.onDialectOrElse({
        pg: () =>
          sql`unnest(${column((x) => x.runId)}::text[], ${column((x) => x.owner)}::text[],
            ${column((x) => x.wakeSeq)}::bigint[], ${column((x) => x.wakeAt ?? null)}::bigint[],
            ${column((x) => x.status)}::text[], ${column((x) => x.now)}::bigint[])
            AS t(id, owner, wake_seq, wake_at, status, now)`,
        // SQLite has no arrays: the rows as JSON, read back with json_each.
        orElse: () =>
          sql`(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS owner,
              json_extract(value, '$[2]') AS wake_seq, json_extract(value, '$[3]') AS wake_at,
              json_extract(value, '$[4]') AS status, json_extract(value, '$[5]') AS now
            FROM json_each(${
            JSON.stringify(suspensions.map((x) => [x.runId, x.owner, x.wakeSeq, x.wakeAt ?? null, x.status, x.now]))
          }))`
      })
    } ORDER BY id) i
      WHERE r.id = i.id AND r.lease_owner = i.owner AND r.status = 'running'
      RETURNING ${sql.onDialectOrElse({ pg: () => sql`r.id, r.status`, orElse: () => sql`id, status` })}`.pipe(
      Effect.flatMap((rows) =>
        Effect.map(decodeStatuses(rows), (statuses) => {
          const byId = new Map(statuses.map((row, index) => [rows[index].id, row.status]))
          return suspensions.map((suspension) => Option.fromNullable(byId.get(suspension.runId)))
        })
      )
    )
  }

  /** Stores one run as suspended (see `suspendRuns`). */
  const suspendRun = (suspension: Suspension): Effect.Effect<Option.Option<Run.RunStatus>, SqlError> =>
    Effect.map(suspendRuns([suspension]), (stored) => stored[0])

  /**
   * Gives a run back: runnable again, or, when it was canceled meanwhile, still canceled but held by no
   * lease any more (the cancel waits for that, see `freeCanceled`).
   */
  const releaseRun = (runId: string, owner: string, now: number): Effect.Effect<void, SqlError> =>
    sql`UPDATE gatehouse_runs SET status = CASE WHEN status = 'running' THEN 'runnable' ELSE status END,
        lease_owner = NULL, lease_expires_at = NULL,
        updated_at = CASE WHEN status = 'running' THEN ${now} ELSE updated_at END
      WHERE id = ${runId} AND lease_owner = ${owner} AND status IN ('running', 'canceled')
      RETURNING id`.pipe(
      // A runner shutting down gives its runs back one by one: the others take them at once.
      Effect.flatMap((rows) => rows.length > 0 ? PgWakeups.notify(sql, runId) : Effect.void)
    )

  const releaseAll = (owner: string, now: number): Effect.Effect<void, SqlError> =>
    sql`UPDATE gatehouse_runs SET status = CASE WHEN status = 'running' THEN 'runnable' ELSE status END,
        lease_owner = NULL, lease_expires_at = NULL,
        updated_at = CASE WHEN status = 'running' THEN ${now} ELSE updated_at END
      WHERE lease_owner = ${owner} AND status IN ('running', 'canceled')`.pipe(
      // Other runners take what a stopping runner gave back at once, not at their next poll.
      Effect.zipRight(PgWakeups.notify(sql, "released"))
    )

  /**
   * Renews the leases of the runs a runner is executing, and only those: a run it stopped executing but
   * could not release must expire, so that it can be taken over. Returns the runs whose lease it renewed:
   * one missing was canceled or taken over, and its runner must not start anything more of it.
   */
  const renewLeases: Leases["renewLeases"] = (options) => {
    const { owner, runIds } = options
    return runIds.length === 0 ? Effect.succeed(new Set<string>()) : sql<{ id: string }>`UPDATE gatehouse_runs
      SET lease_expires_at = ${leaseNow(sql, options.now)} + ${options.leaseMillis}
      WHERE lease_owner = ${owner} AND status = 'running' AND id IN ${sql.in(runIds)}
      RETURNING id`.pipe(Effect.map((rows) => new Set(rows.map((row) => row.id))))
  }

  /**
   * True once a canceled run is held by no live lease: its runner gave it back, or its lease expired (a
   * runner that died), in which case the lease is cleared here. False while a runner still holds it.
   */
  const freeCanceled = (runId: string, now: number): Effect.Effect<boolean, SqlError> =>
    sql<{ id: string }>`UPDATE gatehouse_runs SET lease_owner = NULL, lease_expires_at = NULL
      WHERE id = ${runId} AND status = 'canceled'
        AND (lease_owner IS NULL OR lease_expires_at < ${leaseNow(sql, now)})
      RETURNING id`.pipe(Effect.map((rows) => rows.length > 0))

  /** Marks the leases of a runner that died as expired, so any runner takes its runs over now (the test kit's crash). */
  const expireLeases = (owner: string, now: number): Effect.Effect<void, SqlError> =>
    sql`UPDATE gatehouse_runs SET lease_expires_at = ${now - 1}
      WHERE lease_owner = ${owner} AND status IN ('running', 'canceled')`.pipe(Effect.asVoid)

  /** Makes a waiting run runnable and moves its wake sequence, so a suspension in flight sees it. */
  const wake = (runId: string, now: number, link?: string | undefined): Effect.Effect<void, SqlError> =>
    sql`UPDATE gatehouse_runs SET wake_seq = wake_seq + 1, updated_at = ${now}, wake_link = ${link ?? null},
        status = CASE WHEN status IN ('suspended', 'waiting-approval') THEN 'runnable' ELSE status END
      WHERE id = ${runId}`.pipe(
      // Inside the caller's transaction: PostgreSQL delivers it on commit, when the run is claimable, with no
      // round trip after it (a decision resuming a run in another process is what a reviewer waits for).
      Effect.zipRight(PgWakeups.notifyAtCommit(sql, runId))
    )

  /** Records an outside completion of a node. First completion wins: returns false when it was already completed. */
  const completeNodeFromOutside: Journal["completeNodeFromOutside"] = (options) =>
    sql`INSERT INTO gatehouse_nodes (run_id, node_id, kind, status, exit, attempt, seq, started_at, completed_at)
      SELECT ${options.runId}, ${options.nodeId}, ${options.kind}, 'completed', ${JSON.stringify(options.exit)}, 0,
        COALESCE(MAX(seq), 0) + 1, CAST(${options.now} AS BIGINT), CAST(${options.now} AS BIGINT)
      FROM gatehouse_nodes WHERE run_id = ${options.runId}
      ON CONFLICT (run_id, node_id) DO UPDATE SET status = 'completed', exit = excluded.exit,
        completed_at = excluded.completed_at
      WHERE gatehouse_nodes.status NOT IN ('completed', 'canceled') AND gatehouse_nodes.kind = excluded.kind
      RETURNING node_id`.pipe(Effect.map((rows) => rows.length > 0))

  const getNode = (runId: string, nodeId: string): Effect.Effect<Option.Option<NodeRow>, SqlError> =>
    sql`SELECT * FROM gatehouse_nodes WHERE run_id = ${runId} AND node_id = ${nodeId}`.pipe(
      Effect.flatMap(decodeNode)
    )

  /** How many runs are in each status. */
  const countRunsByStatus = (): Effect.Effect<ReadonlyArray<{ readonly status: string; readonly n: number }>, SqlError> =>
    sql`SELECT status, COUNT(*) AS n FROM gatehouse_runs GROUP BY status`.pipe(
      Effect.flatMap(decodeStatusCounts)
    )

  /** The JSON Schema stored with a node (a deferred the run awaits), if any. */
  const getNodeJsonSchema = (runId: string, nodeId: string): Effect.Effect<Option.Option<unknown>, SqlError> =>
    sql`SELECT json_schema AS n FROM gatehouse_nodes WHERE run_id = ${runId} AND node_id = ${nodeId}`.pipe(
      Effect.flatMap(decodeJsonSchema),
      Effect.map(Option.flatMap((row) => Option.fromNullable(row.n)))
    )

  /**
   * Ends a run `canceled`. Its lease, if a runner holds it, stays: the runner gives it back once the
   * run's fiber has stopped (`releaseRun`), and the cancel waits for that (`freeCanceled`).
   */
  const cancelRun: Runs["cancelRun"] = (options) =>
    sql`UPDATE gatehouse_runs SET status = 'canceled', result = ${JSON.stringify(options.result)},
        error = ${options.error}, wake_at = NULL,
        wake_seq = wake_seq + 1, updated_at = ${options.now}, completed_at = ${options.now}
      WHERE id = ${options.runId} AND status NOT IN ('completed', 'failed', 'canceled')
      RETURNING id`.pipe(
      Effect.map((rows) => rows.length > 0),
      // The runner holding the run, in whatever process, interrupts it instead of finding out at its next write.
      Effect.tap((canceled) => canceled ? PgWakeups.notify(sql, `cancel:${options.runId}`) : Effect.void)
    )


  const listRuns: Runs["listRuns"] = (options) => {
    const filters = [
      options.status !== undefined ? sql`status = ${options.status}` : undefined,
      options.workflow !== undefined ? sql`workflow = ${options.workflow}` : undefined,
      options.after !== undefined
        ? sql`(created_at < ${options.after[0]} OR (created_at = ${options.after[0]} AND id < ${options.after[1]}))`
        : undefined
    ].filter((filter) => filter !== undefined)
    return sql`SELECT * FROM gatehouse_runs ${filters.length > 0 ? sql`WHERE ${sql.and(filters)}` : sql``}
      ORDER BY created_at DESC, id DESC LIMIT ${options.limit}`.pipe(Effect.flatMap(decodeRuns))
  }

  /**
   * The earliest moment, on Effect's `Clock`, at which a run of these workflows becomes claimable without
   * anyone announcing it: a suspended run's timer, or the lease expiry of a run no runner renews any more
   * (a runner that died, or one of this runner's own whose release failed). Lease times are converted
   * from the lease clock (the database's, on PostgreSQL) to a delay, so the wait is right whatever the
   * clocks say. Runs in `executing` are this runner's own, renewed: not counted.
   */
  const nextWakeAt = (
    names: ReadonlyArray<string>,
    options: { readonly now: number; readonly executing: ReadonlyArray<string> }
  ): Effect.Effect<Option.Option<number>, SqlError> => {
    if (names.length === 0) return Effect.succeed(Option.none())
    // One round trip for both: a runner asks this every time it runs out of work.
    return sql`SELECT
        (SELECT MIN(wake_at) FROM gatehouse_runs WHERE workflow IN ${sql.in(names)}
          AND status IN ('suspended', 'waiting-approval') AND wake_at IS NOT NULL) AS timer_at,
        (SELECT MIN(lease_expires_at) - ${leaseNow(sql, options.now)} FROM gatehouse_runs
          WHERE workflow IN ${sql.in(names)} AND status = 'running'${
      options.executing.length > 0 ? sql` AND id NOT IN ${sql.in(options.executing)}` : sql``
    }) AS lease_delay`.pipe(
      Effect.flatMap(decodeWakeAt),
      Effect.map(Option.flatMap((row) => {
        // Claimable once the lease clock has passed the expiry (a strict comparison): a millisecond later.
        const leaseAt = row.leaseDelay === undefined ? undefined : options.now + Math.max(0, row.leaseDelay) + 1
        const at = row.timerAt === undefined ? leaseAt : leaseAt === undefined ? row.timerAt : Math.min(row.timerAt, leaseAt)
        return Option.fromNullable(at)
      }))
    )
  }

  /** How many runs of these workflows a runner could still pick up or is executing now. */
  const countUnsettled = (names: ReadonlyArray<string>, now: number): Effect.Effect<number, SqlError> =>
    names.length === 0 ? Effect.succeed(0) : sql`SELECT COUNT(*) AS n FROM gatehouse_runs
      WHERE workflow IN ${sql.in(names)} AND (status IN ('pending', 'runnable', 'running')
        OR (status IN ('suspended', 'waiting-approval') AND wake_at <= ${now}))`.pipe(
      Effect.flatMap(decodeAggregate),
      Effect.map(Option.match({ onNone: () => 0, onSome: (row) => row.n ?? 0 }))
    )

  return {
    sql,
    insertRun,
    insertRuns,
    getRun,
    claim,
    loadJournal,
    loadJournals,
    ensureNode,
    checkpoint,
    checkpointMany,
    finishRun,
    finishRuns,
    suspendRun,
    suspendRuns,
    releaseRun,
    releaseAll,
    renewLeases,
    freeCanceled,
    expireLeases,
    wake,
    completeNodeFromOutside,
    getNode,
    getNodeJsonSchema,
    countRunsByStatus,
    cancelRun,
    lockRun,
    closeOpenWork,
    listRuns,
    nextWakeAt,
    countUnsettled
  } as const
}
