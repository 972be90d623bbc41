/**
 * Benchmark: the inbox at scale. A PostgreSQL schema of its own (`gh_bench_inbox_1m`, kept across runs)
 * holds `BENCH_INBOX_APPROVALS` approvals (default 1,000,000; one in twenty pending), assigned to one of
 * 1,000 reviewers and one of 40 roles each, over 8 workflows, a third of them with a deadline, and an audit
 * entry per decided one. It is seeded by SQL (`generate_series`) once, migrated with the engine's
 * migrations on every run, and seeded again only when its row counts are not the expected ones.
 *
 * Each inbox query goes through `Approvals.list` (the engine call, row decoding included), repeated
 * `BENCH_INBOX_REPS` times (default 200) in rounds of every query: p50 and p99 per query. Orders the engine does not know are
 * reported as `null`. The last line on stdout is one JSON object with `inboxP99Ms` (the worst query's p99)
 * and `inboxApprovals` (the volume). Run with `npm run --silent bench:inbox`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Approvals, Gatehouse } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import { performance } from "node:perf_hooks"
import { databaseUrl, percentile, round } from "./shared.js"

const positive = (name: string, fallback: number) => {
  const value = Number(process.env[name])
  return Number.isInteger(value) && value > 0 ? value : fallback
}

const approvals = positive("BENCH_INBOX_APPROVALS", 1_000_000)
const reps = positive("BENCH_INBOX_REPS", 200)
const pendingEvery = 20
const pending = Math.floor(approvals / pendingEvery)
const reviewers = 1000
const roles = 40
const workflows = 8
const schema = approvals === 1_000_000 ? "gh_bench_inbox_1m" : `gh_bench_inbox_${approvals}`
const base = 1_767_225_600_000 // 2026-01-01

const counts = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ total: string | number; pending: string | number; assignees: string | number }>`SELECT
      (SELECT COUNT(*) FROM gatehouse_approvals) AS total,
      (SELECT COUNT(*) FROM gatehouse_approvals WHERE status = 'waiting-approval') AS pending,
      (SELECT COUNT(*) FROM gatehouse_approval_assignees) AS assignees`
  return { total: Number(rows[0].total), pending: Number(rows[0].pending), assignees: Number(rows[0].assignees) }
})

/**
 * Approval `i` (1..n): pending when `i` is a multiple of 20; requested every second with two approvals
 * per second (ties on the key); reviewer `(i / 20) % 1000` and role `(i / 500) % 40`, so the pending ones
 * spread over every reviewer; a deadline on every third, two of them sharing each deadline.
 */
const seed = Effect.gen(function*() {
  const sql = (yield* SqlClient.SqlClient).withoutTransforms()
  yield* sql`TRUNCATE gatehouse_approvals, gatehouse_approval_assignees, gatehouse_audit`
  const policy = JSON.stringify({ onDeny: "fail", onTimeout: "deny", allowRequestChanges: false })
  const chunk = 100_000
  for (let from = 1; from <= approvals; from += chunk) {
    const to = Math.min(approvals, from + chunk - 1)
    yield* sql`INSERT INTO gatehouse_approvals (run_id, node_id, base_id, workflow, status, title, summary, metadata,
        reviewed, request_hash, revision, policy, reviewers, started_by, deadline, escalations, decision, requested_at,
        decided_at, updated_at)
      SELECT 'run-' || lpad(i::text, 8, '0'), 'review', 'review', 'wf-' || ((i / 13) % ${workflows}),
        CASE WHEN i % ${pendingEvery} = 0 THEN 'waiting-approval' WHEN i % 3 = 0 THEN 'denied' ELSE 'approved' END,
        'Refund ' || i || ' EUR to customer ' || (i % 9973), 'Customer is inside the refund window.',
        '{"ticketId":"T-' || i || '","amount":' || (i % 5000) || '}',
        '{"recommendation":"refund","confidence":0.' || (i % 97) || '}',
        md5(i::text), 0, ${policy},
        '{"users":["reviewer-' || ((i / ${pendingEvery}) % ${reviewers}) || '"],"roles":["role-' || ((i / ${pendingEvery} / 25) % ${roles})
          || '"],"quorum":1,"denyQuorum":1,"allowSelfApproval":false}',
        'starter-' || (i % 50),
        CASE WHEN i % 3 = 0 THEN ${base} + (i / 2) * 1000 + ((i * 7919) % 604800) * 1000 END,
        0,
        CASE WHEN i % ${pendingEvery} = 0 THEN NULL ELSE '{"approved":true,"outcome":"approved","decidedBy":"reviewer-'
          || ((i / ${pendingEvery}) % ${reviewers}) || '","decidedAt":' || (${base} + (i / 2) * 1000 + 60000) || '}' END,
        ${base} + (i / 2) * 1000,
        CASE WHEN i % ${pendingEvery} = 0 THEN NULL ELSE ${base} + (i / 2) * 1000 + 60000 END,
        ${base} + (i / 2) * 1000
      FROM generate_series(${from}::bigint, ${to}::bigint) AS i`
    yield* sql`INSERT INTO gatehouse_approval_assignees (run_id, node_id, principal, status, requested_at, deadline)
      SELECT a.run_id, a.node_id, p.principal, a.status, a.requested_at, a.deadline
      FROM generate_series(${from}::bigint, ${to}::bigint) AS i
      JOIN gatehouse_approvals a ON a.run_id = 'run-' || lpad(i::text, 8, '0') AND a.node_id = 'review'
      CROSS JOIN LATERAL (VALUES ('user:reviewer-' || ((i / ${pendingEvery}) % ${reviewers})),
        ('role:role-' || ((i / ${pendingEvery} / 25) % ${roles}))) AS p(principal)`
    yield* sql`INSERT INTO gatehouse_audit (run_id, node_id, action, actor, request_hash, note, data, created_at,
        prev_hash, hash)
      SELECT 'run-' || lpad(i::text, 8, '0'), 'review', 'approval.decided', 'reviewer-' || ((i / ${pendingEvery}) % ${reviewers}),
        md5(i::text), NULL, '{"verdict":"approve","payload":null}', ${base} + (i / 2) * 1000 + 60000,
        md5((i - 1)::text), md5(i::text)
      FROM generate_series(${from}::bigint, ${to}::bigint) AS i WHERE i % ${pendingEvery} <> 0`
    // What `Approvals.decide` writes with each decision: the approval indexed under its decider.
    yield* sql`INSERT INTO gatehouse_approval_assignees (run_id, node_id, principal, status, requested_at, deadline)
      SELECT a.run_id, a.node_id, 'decided:' || au.actor, a.status, a.requested_at, a.deadline
      FROM gatehouse_audit au JOIN gatehouse_approvals a ON a.run_id = au.run_id AND a.node_id = au.node_id
      WHERE au.run_id BETWEEN ${"run-" + String(from).padStart(8, "0")} AND ${"run-" + String(to).padStart(8, "0")}
        AND au.action = 'approval.decided'`
    yield* Effect.logInfo(`seeded ${to} of ${approvals} approvals`)
  }
  yield* sql`ANALYZE gatehouse_approvals`
  yield* sql`ANALYZE gatehouse_approval_assignees`
  yield* sql`ANALYZE gatehouse_audit`
})

type Query = { readonly name: string; readonly options: Approvals.ListOptions }

/** The cursor after about `position` approvals of a listing, read through the API with big pages. */
const cursorAt = (options: Approvals.ListOptions, position: number) =>
  Effect.gen(function*() {
    const service = yield* Approvals.Approvals
    let cursor: string | undefined = undefined
    let read = 0
    while (read < position) {
      const limit = Math.min(500, position - read)
      const page: Approvals.ApprovalPage = yield* service.list({ ...options, limit, ...(cursor ? { cursor } : {}) })
      read += page.approvals.length
      if (page.cursor === undefined) return undefined
      cursor = page.cursor
    }
    return cursor
  })

/**
 * Every query `reps` times, in rounds (each round runs every query once), so that a burst of load on the
 * machine falls on every query alike rather than on whichever ran at that moment.
 */
const measure = (queries: ReadonlyArray<Query>) =>
  Effect.gen(function*() {
    const service = yield* Approvals.Approvals
    const supported: Array<Query> = []
    for (const query of queries) {
      const first = yield* Effect.either(service.list(query.options))
      if (first._tag === "Right") supported.push(query)
    }
    for (let i = 0; i < 10; i++) {
      for (const query of supported) yield* service.list(query.options)
    }
    const times = supported.map(() => [] as Array<number>)
    const counts = supported.map(() => 0)
    for (let round_ = 0; round_ < reps; round_++) {
      for (let q = 0; q < supported.length; q++) {
        const t0 = performance.now()
        const page = yield* service.list(supported[q].options)
        times[q].push(performance.now() - t0)
        counts[q] = page.approvals.length
      }
    }
    const results: Record<string, { count: number; p50: number; p99: number } | null> = {}
    for (const query of queries) results[query.name] = null
    supported.forEach((query, q) => {
      const sorted = times[q].sort((a, b) => a - b)
      results[query.name] = { count: counts[q], p50: round(percentile(sorted, 0.5)), p99: round(percentile(sorted, 0.99)) }
    })
    return results
  })

const program = Effect.gen(function*() {
  const found = yield* counts
  // Two assignees per approval (a reviewer and a role), and its decider once decided.
  if (found.total !== approvals || found.pending !== pending || found.assignees !== 3 * approvals - pending) {
    yield* Effect.logInfo(`seeding ${approvals} approvals into ${schema} (found ${JSON.stringify(found)})`)
    const t0 = performance.now()
    yield* seed
    yield* Effect.logInfo(`seeded in ${round((performance.now() - t0) / 1000, 1)} s`)
  }
  const reviewer = { id: "reviewer-7", roles: ["role-7"] }
  const orders = ["requested", "newest", "deadline"] as const
  const queries: Array<Query> = []
  for (const order of orders) {
    const options = { order } as Approvals.ListOptions
    queries.push({ name: `pending-${order}-first`, options })
    const middle = yield* Effect.either(cursorAt(options, Math.floor(pending / 2)))
    if (middle._tag === "Right" && middle.right !== undefined) {
      queries.push({ name: `pending-${order}-middle`, options: { ...options, cursor: middle.right } })
    }
    const mine = { ...options, reviewer }
    queries.push({ name: `reviewer-${order}-first`, options: mine })
    const mineMiddle = yield* Effect.either(cursorAt(mine, 600))
    if (mineMiddle._tag === "Right" && mineMiddle.right !== undefined) {
      queries.push({ name: `reviewer-${order}-middle`, options: { ...mine, cursor: mineMiddle.right } })
    }
    queries.push({ name: `workflow-${order}-first`, options: { ...options, workflow: "wf-3" } })
  }
  queries.push({ name: "decided-by-first", options: { decidedBy: "reviewer-7" } })
  const decidedMiddle = yield* Effect.either(cursorAt({ decidedBy: "reviewer-7" }, 500))
  if (decidedMiddle._tag === "Right" && decidedMiddle.right !== undefined) {
    queries.push({ name: "decided-by-middle", options: { decidedBy: "reviewer-7", cursor: decidedMiddle.right } })
  }
  const results = yield* measure(queries)
  let worst = 0
  for (const [name, result] of Object.entries(results)) {
    if (result !== null) worst = Math.max(worst, result.p99)
    yield* Effect.logInfo(`${name}: ${JSON.stringify(result)}`)
  }
  yield* Console.log(JSON.stringify({
    bench: "inbox",
    inboxApprovals: approvals,
    inboxPending: pending,
    reps,
    inboxP99Ms: worst,
    queries: results
  }))
}).pipe(
  Effect.provide(Gatehouse.layerClientPg({ url: databaseUrl, schema, maxConnections: 2 }).pipe(Layer.orDie))
)

program.pipe(
  Effect.provide(Logger.replace(Logger.defaultLogger, Logger.prettyLogger({ stderr: true }))),
  Effect.runPromise
).catch((error) => {
  console.error(error)
  process.exit(1)
})
