import { assert, describe, it } from "@effect/vitest"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Tracing } from "@gatehouse/server"
import * as Effect from "effect/Effect"
import { eventually, serve, sqliteEngine, tokens } from "./utils/fixtures.js"

describe("OpenTelemetry", () => {
  it.live("every request is a server span, and the engine's decision span nests under it", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      const engine = yield* sqliteEngine
      const server = yield* serve(engine, {}, undefined, Tracing.layer({ spanProcessor: new SimpleSpanProcessor(exporter) }))
      const operator = yield* server.client(tokens.operator)
      const grace = yield* server.client(tokens.grace)
      const { runId } = yield* operator.runs.start({ path: { name: "refund" }, payload: { payload: { ticketId: "O-1", amount: 1 } }, headers: {} })
      yield* eventually(grace.approvals.get({ path: { runId, nodeId: "refund-decision" } }))
      exporter.reset()
      const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
      const response = yield* server.fetch(`/v1/runs/${runId}/approvals/refund-decision/decision`, {
        method: "POST",
        token: tokens.grace,
        headers: { traceparent },
        body: JSON.stringify({ verdict: "deny" })
      })
      assert.strictEqual(response.status, 200)
      const spans = yield* eventually(Effect.sync(() => exporter.getFinishedSpans()).pipe(
        Effect.filterOrFail((spans) => spans.some((span) => span.name.startsWith("http.server")), () => "no span yet")
      ))
      const request = spans.find((span) => span.name.startsWith("http.server"))!
      assert.strictEqual(request.attributes["http.request.method"], "POST")
      assert.strictEqual(request.attributes["http.response.status_code"], 200)
      assert.include(String(request.attributes["url.path"]), "/decision")
      // the caller's trace continues
      assert.strictEqual(request.spanContext().traceId, "0af7651916cd43dd8448eb211c80319c")
      // the decision's transaction is part of the request's trace (the runner's resume is a trace of its own)
      const inRequest = spans.filter((span) => span.spanContext().traceId === request.spanContext().traceId)
      assert.isTrue(inRequest.some((span) => span.name === "sql.transaction"), inRequest.map((span) => span.name).join(", "))
    }).pipe(Effect.scoped))
})
