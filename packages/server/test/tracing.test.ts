import { assert, describe, it } from "@effect/vitest"
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
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

  it.live("a run execution, its steps, its approval request and a decision are spans; the decision links to the resumed run", () =>
    Effect.gen(function*() {
      const exporter = new InMemorySpanExporter()
      const engine = yield* sqliteEngine
      const server = yield* serve(engine, {}, undefined, Tracing.layer({ spanProcessor: new SimpleSpanProcessor(exporter) }))
      const operator = yield* server.client(tokens.operator)
      const grace = yield* server.client(tokens.grace)
      const { runId } = yield* operator.runs.start({ path: { name: "refund" }, payload: { payload: { ticketId: "O-2", amount: 3 } }, headers: {} })
      yield* eventually(grace.approvals.get({ path: { runId, nodeId: "refund-decision" } }))
      const parentOf = (span: ReadableSpan): string | undefined =>
        (span as any).parentSpanContext?.spanId ?? (span as any).parentSpanId
      const finished = (name: string) =>
        Effect.sync(() => exporter.getFinishedSpans().filter((span) => span.name === name && span.attributes.runId === runId))

      // The first execution: a root span, with the approval request as its child.
      const [first] = yield* eventually(finished("gatehouse.run").pipe(Effect.filterOrFail((spans) => spans.length === 1, () => "no run span")))
      assert.isUndefined(parentOf(first))
      assert.deepStrictEqual([first.attributes.workflow, first.attributes.claims], ["refund", 1])
      const [requested] = yield* finished("gatehouse.approval.request")
      assert.strictEqual(parentOf(requested), first.spanContext().spanId)
      assert.strictEqual(requested.attributes.nodeId, "refund-decision")

      yield* grace.approvals.decide({
        path: { runId, nodeId: "refund-decision" },
        headers: {},
        payload: { verdict: "approve", payload: { approvedAmount: 3 } }
      })
      yield* eventually(operator.runs.get({ path: { runId } }).pipe(
        Effect.filterOrFail((run) => run.status === "completed", () => "not yet completed")
      ))
      const runs = yield* eventually(finished("gatehouse.run").pipe(Effect.filterOrFail((spans) => spans.length === 2, () => "no resumed run span")))
      const resumed = runs.find((span) => span !== first)!
      const decide = exporter.getFinishedSpans().find((span) => span.name === "gatehouse.decide")!
      assert.isDefined(decide)
      assert.deepStrictEqual([decide.attributes.runId, decide.attributes.verdict, decide.attributes.reviewer], [runId, "approve", "grace"])
      // The decision is part of the HTTP request's trace…
      const request = exporter.getFinishedSpans().find((span) =>
        span.name.startsWith("http.server") && span.spanContext().spanId === parentOf(decide)
      )
      assert.isDefined(request, "gatehouse.decide is a child of the request's span")
      // …and the resumed execution, a trace of its own, links to it.
      assert.isUndefined(parentOf(resumed))
      assert.notStrictEqual(resumed.spanContext().traceId, decide.spanContext().traceId)
      assert.deepStrictEqual(
        resumed.links.map((link) => [link.context.traceId, link.context.spanId]),
        [[decide.spanContext().traceId, decide.spanContext().spanId]]
      )
      // The first execution was woken by the start, not a decision.
      assert.deepStrictEqual(first.links, [])

      // The step ran in the resumed execution, under its span, executed on its first attempt.
      const [pay] = (yield* finished("gatehouse.step")).filter((span) => span.attributes.nodeId === "pay")
      assert.strictEqual(parentOf(pay), resumed.spanContext().spanId)
      assert.deepStrictEqual([pay.attributes.replayed, pay.attributes.attempt], [false, 1])
      const replayedRequest = (yield* finished("gatehouse.approval.request")).find((span) => span !== requested)!
      assert.strictEqual(parentOf(replayedRequest), resumed.spanContext().spanId)
    }).pipe(Effect.scoped))
})
