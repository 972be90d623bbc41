import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Gatehouse } from "@gatehouse/engine"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as fc from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { Deploy, DeployLive, eventually, PingLive, Refund, RefundLive, serve, tokens } from "./utils/fixtures.js"

const numRuns = Number(process.env.GATEHOUSE_FUZZ_RUNS ?? 5000)
const tables = ["runs", "nodes", "approvals", "approval_assignees", "votes", "events", "audit"]

interface Generated {
  readonly method: string
  readonly path: string
  readonly token: string | undefined
  readonly headers: Record<string, string>
  readonly body: string | undefined
}

const printable = (s: string) => s.replace(/[^\x20-\x7e]/g, "")

const requestArbitrary = (runIds: ReadonlyArray<string>): fc.Arbitrary<Generated> => {
  const raw = fc.constantFrom("..", "%", "%00", "%2F", "%ZZ", "%E0%A4%A", "", "*", "ship%2Fapproval", "%F0%9F%98%80")
  const segment = fc.oneof(
    { arbitrary: fc.constantFrom(...runIds, "refund-decision", "ship/approval", "refund", "ping", "deploy", "nope").map(encodeURIComponent), weight: 8 },
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
    fc.fullUnicodeString({ maxLength: 20 }).map(encodeURIComponent),
    raw
  )
  const templates = [
    "GET /v1/approvals",
    "GET /v1/runs/$/approvals/$",
    "POST /v1/runs/$/approvals/$/decision",
    "GET /v1/runs",
    "GET /v1/runs/$",
    "GET /v1/runs/$/timeline",
    "POST /v1/runs/$/cancel",
    "POST /v1/runs/$/resume",
    "POST /v1/runs/$/fork",
    "POST /v1/workflows/$/runs",
    "GET /v1/events",
    "GET /v1/runs/$/audit",
    "GET /v1/audit/verify",
    "GET /healthz",
    "GET /readyz",
    "GET /metrics",
    "GET /openapi.json",
    "GET /v1/$",
    "POST /$"
  ]
  // The real endpoints with their methods most of the time, a random path or method sometimes.
  const template = fc.oneof({ arbitrary: fc.constantFrom(...templates.slice(0, 13)), weight: 8 }, fc.constantFrom(...templates.slice(13)))
  const endpoint = fc.tuple(template, fc.array(segment, { minLength: 2, maxLength: 2 })).map(
    ([template, [a, b]]) => {
      const [method, path] = template.split(" ")
      let i = 0
      return { method, path: path.replace(/\$/g, () => (i++ === 0 ? a : b)) }
    }
  )
  const query = fc.dictionary(
    fc.constantFrom("status", "reviewer", "workflow", "cursor", "limit", "after", "x"),
    fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom("waiting-approval", "approved", "completed", "*", "grace", "0", "1", "500", "501", "-1", "1e3", "0-0", "NaN", "W1siYSJdXQ")
    ),
    { maxKeys: 3 }
  ).map((params) => {
    const search = new URLSearchParams(params).toString()
    return search === "" ? "" : `?${search}`
  })
  const json = fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value))
  const verdict = fc.oneof(fc.constantFrom("approve", "deny", "request-changes"), fc.string({ maxLength: 10 }), fc.integer())
  const decision = fc.record(
    {
      verdict,
      note: fc.oneof(fc.string({ maxLength: 50 }), fc.integer(), fc.constant(null)),
      payload: fc.oneof(fc.record({ approvedAmount: fc.oneof(fc.double(), fc.string()) }), fc.jsonValue({ maxDepth: 2 }))
    },
    { requiredKeys: [] }
  ).map((value) => JSON.stringify(value))
  const start = fc.record({
    payload: fc.oneof(
      fc.record({ ticketId: fc.string({ maxLength: 10 }), amount: fc.oneof(fc.double(), fc.string()) }, { requiredKeys: [] }),
      fc.record({ version: fc.oneof(fc.string({ maxLength: 10 }), fc.integer()) }),
      fc.record({ message: fc.string({ maxLength: 10 }) }),
      fc.jsonValue({ maxDepth: 2 })
    )
  }, { requiredKeys: [] }).map((value) => JSON.stringify(value))
  const repair = fc.record({
    reason: fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null)),
    fromNode: fc.oneof(fc.constantFrom("refund-decision", "ship/approval", "ship", "pay", "nope", ""), fc.string({ maxLength: 10 })),
    payload: fc.oneof(
      fc.record({ ticketId: fc.string({ maxLength: 10 }), amount: fc.oneof(fc.double(), fc.string()) }, { requiredKeys: [] }),
      fc.jsonValue({ maxDepth: 2 })
    )
  }, { requiredKeys: [] }).map((value) => JSON.stringify(value))
  const body = fc.oneof(
    fc.constant(undefined),
    json,
    decision,
    start,
    repair,
    fc.string({ maxLength: 60 }),
    fc.constantFrom("{", "{\"verdict\":", "[]", "null", "\"\"", "{\"payload\":", "\u0000")
  )
  const headerValue = fc.oneof(
    fc.string({ maxLength: 40 }).map(printable),
    fc.constantFrom("\"abc\"", "W/\"abc\"", "*", "\"a\", \"b\"", "0-0", "1-1", "garbage", "application/json", "text/plain")
  )
  const headers = fc.dictionary(
    fc.constantFrom("if-match", "idempotency-key", "last-event-id", "content-type", "accept"),
    headerValue,
    { maxKeys: 3 }
  )
  return fc.record({
    endpoint,
    method: fc.oneof({ arbitrary: fc.constant(undefined), weight: 9 }, fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")),
    query,
    token: fc.oneof(
      { arbitrary: fc.constantFrom(tokens.operator, tokens.grace, tokens.mallory, tokens.starter), weight: 6 },
      fc.constantFrom(undefined, "garbage", "a.b.c", " ")
    ),
    headers,
    body
  }).map(({ endpoint, method, query, ...rest }) => ({ ...rest, method: method ?? endpoint.method, path: endpoint.path + query }))
}

describe("fuzz", () => {
  it.live(`${numRuns} generated requests: no 5xx, and a refused request changes no engine table`, () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-fuzz-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const filename = path.join(dir, "gatehouse.db")

      // Seed waiting approvals with a runner, then serve the same database without one, so that nothing
      // but the requests changes the tables.
      const runIds = yield* Effect.gen(function*() {
        const seeded = yield* Effect.all([
          Refund.start({ ticketId: "F-1", amount: 10 }),
          Refund.start({ ticketId: "F-2", amount: 20 }),
          Deploy.start({ version: "9.9.9" })
        ])
        const approvals = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          eventually(sql`SELECT COUNT(*) AS n FROM gatehouse_approvals`.pipe(
            Effect.filterOrFail((rows) => Number(rows[0].n) === 3, () => "not yet")
          )))
        assert.isDefined(approvals)
        return seeded
      }).pipe(
        Effect.provide(Gatehouse.layerSqlite({ filename, workflows: Layer.mergeAll(RefundLive, PingLive, DeployLive) })),
        Effect.scoped
      )

      const server = yield* serve(Gatehouse.layerSqlite({ filename }))
      const sql = Context.get(server.context, SqlClient.SqlClient).withoutTransforms()
      const snapshot = Effect.forEach(tables, (table) => sql.unsafe(`SELECT * FROM gatehouse_${table}`)).pipe(
        Effect.map((rows) => JSON.stringify(rows)),
        Effect.runPromise
      )

      const statuses = new Map<number, number>()
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(requestArbitrary(runIds), async (request) => {
            const before = await snapshot
            const headers = new Headers(request.headers)
            if (request.token !== undefined) headers.set("authorization", `Bearer ${request.token}`)
            const response = await fetch(`${server.baseUrl}${request.path}`, {
              method: request.method,
              headers,
              ...(request.body !== undefined && request.method !== "GET" ? { body: request.body } : {})
            })
            if ((response.headers.get("content-type") ?? "").includes("event-stream")) await response.body?.cancel()
            else await response.arrayBuffer()
            statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1)
            if (response.status >= 500) return false
            if (response.status >= 400) return (await snapshot) === before
            return true
          }),
          { numRuns, endOnFailure: true }
        )
      )
      const counts = Object.fromEntries([...statuses].sort(([a], [b]) => a - b))
      // The generator reaches the statuses that matter, not only 401s and 404s.
      yield* Effect.log(`fuzz statuses: ${JSON.stringify(counts)}`)
      for (const status of [200, 400, 401, 403, 404]) assert.isTrue((statuses.get(status) ?? 0) > 0, JSON.stringify(counts))
    }).pipe(Effect.scoped), { timeout: 600_000 })
})
