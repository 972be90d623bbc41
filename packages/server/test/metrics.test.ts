import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { authConfig, eventually, serve, sqliteEngine, tokens } from "./utils/fixtures.js"

/** Parses the Prometheus text format into `name{labels}` → value, checking every line's syntax. */
const parsePrometheus = (text: string): Map<string, number> => {
  const samples = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) {
      if (/^# (HELP|TYPE) /.test(line)) assert.match(line, /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* \S/, line)
      continue
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)( \d+)?$/.exec(line)
    assert.isNotNull(match, `not a Prometheus sample line: ${line}`)
    const labels = match![2] === undefined
      ? ""
      : match![2].slice(1, -1).split(/,(?=[a-zA-Z_])/).filter((pair) => pair !== "").sort().join(",")
    samples.set(`${match![1]}{${labels}}`, Number(match![3]))
  }
  return samples
}

const setup = Effect.flatMap(sqliteEngine, (engine) => serve(engine))

describe("/metrics", () => {
  it.live("exposes engine and HTTP metrics in the Prometheus format, and they move on a decision", () =>
    Effect.gen(function*() {
      const server = yield* setup
      const operator = yield* server.client(tokens.operator)
      const grace = yield* server.client(tokens.grace)
      const scrape = Effect.gen(function*() {
        const response = yield* server.fetch("/metrics", { token: tokens.operator })
        assert.strictEqual(response.status, 200)
        assert.include(response.headers.get("content-type"), "text/plain")
        return parsePrometheus(yield* Effect.promise(() => response.text()))
      })
      const { runId } = yield* operator.runs.start({ path: { name: "refund" }, payload: { payload: { ticketId: "M-1", amount: 2 } }, headers: {} })
      yield* eventually(grace.approvals.get({ path: { runId, nodeId: "refund-decision" } }))
      // The approval is recorded before its run is stored waiting on it: the gauge counts the run's status.
      yield* operator.runs.get({ path: { runId } }).pipe(
        Effect.filterOrFail((run) => run.status === "waiting-approval", () => "not yet waiting"),
        eventually
      )
      const before = yield* scrape
      yield* grace.approvals.decide({ path: { runId, nodeId: "refund-decision" }, headers: {}, payload: { verdict: "approve", payload: { approvedAmount: 2 } } })
      const after = yield* scrape

      const decided = "gatehouse_approvals_decided_total{verdict=\"approve\"}"
      assert.strictEqual((after.get(decided) ?? 0) - (before.get(decided) ?? 0), 1, [...after.keys()].join("\n"))
      const posts = `gatehouse_http_requests_total{method="POST",route="/v1/runs/{runId}/approvals/{nodeId}/decision",status="200"}`
      assert.strictEqual((after.get(posts) ?? 0) - (before.get(posts) ?? 0), 1, [...after.keys()].join("\n"))
      for (const name of ["gatehouse_approvals_requested_total", "gatehouse_approvals_pending", "gatehouse_approval_decision_wait_seconds_count"]) {
        assert.isTrue([...after.keys()].some((key) => key.startsWith(`${name}{`)), name)
      }

      // Runs by status are counted on scrape; the step after the approval is timed when it runs.
      const waiting = "gatehouse_runs{status=\"waiting-approval\"}"
      const completed = "gatehouse_runs{status=\"completed\"}"
      const steps = "gatehouse_step_duration_seconds_count{}"
      assert.strictEqual(before.get(waiting), 1, [...before.keys()].join("\n"))
      assert.strictEqual(before.get(completed), 0)
      yield* operator.runs.get({ path: { runId } }).pipe(
        Effect.filterOrFail((run) => run.status === "completed", () => "not yet completed"),
        eventually
      )
      const done = yield* scrape
      assert.strictEqual(done.get(waiting), 0)
      assert.strictEqual(done.get(completed), 1)
      assert.strictEqual((done.get(steps) ?? 0) - (before.get(steps) ?? 0), 1, [...done.keys()].join("\n"))
      assert.isTrue([...done.keys()].some((key) => key.startsWith("gatehouse_step_duration_seconds_bucket{")))

      assert.strictEqual((yield* server.fetch("/metrics")).status, 401)
      assert.strictEqual((yield* server.fetch("/metrics", { token: tokens.grace })).status, 403)
    }).pipe(Effect.scoped))

  it.live("publicMetrics opens /metrics, and only /metrics, to a scraper without credentials", () =>
    Effect.gen(function*() {
      const server = yield* Effect.flatMap(sqliteEngine, (engine) => serve(engine, {}, { ...authConfig, publicMetrics: true }))
      const open = yield* server.fetch("/metrics")
      assert.strictEqual(open.status, 200)
      assert.include(yield* Effect.promise(() => open.text()), "gatehouse_")
      assert.strictEqual((yield* server.fetch("/v1/approvals")).status, 401)
      assert.strictEqual((yield* server.fetch("/v1/runs")).status, 401)
    }).pipe(Effect.scoped))
})
