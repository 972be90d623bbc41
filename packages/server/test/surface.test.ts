import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { Validator } from "@seriousme/openapi-schema-validator"
import { eventually, serve, sqliteEngine, tokens } from "./utils/fixtures.js"

const setup = Effect.flatMap(sqliteEngine, (engine) => serve(engine))

/** Reads Server-Sent Events from a response body until `count` events have arrived. */
const readEvents = (response: Response, count: number) =>
  Effect.promise(async () => {
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let buffer = ""
    const events: Array<{ id: string; event: string; data: any }> = []
    while (events.length < count) {
      const { done, value } = await reader.read()
      if (done) break
      buffer += decoder.decode(value, { stream: true })
      let end: number
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const fields = Object.fromEntries(
          block.split("\n").filter((line) => !line.startsWith(":")).map((line) => {
            const at = line.indexOf(": ")
            return [line.slice(0, at), line.slice(at + 2)]
          })
        )
        if (fields.id !== undefined) events.push({ id: fields.id, event: fields.event, data: JSON.parse(fields.data) })
      }
    }
    await reader.cancel()
    return events
  })

describe("HTTP surface", () => {
  it.live("health, readiness, OpenAPI and docs need no credentials; everything else does", () =>
    Effect.gen(function*() {
      const server = yield* setup
      const healthz = yield* server.fetch("/healthz")
      assert.strictEqual(healthz.status, 200)
      assert.deepStrictEqual(yield* Effect.promise(() => healthz.json()), { status: "ok" })
      assert.strictEqual((yield* server.fetch("/readyz")).status, 200)
      const openapi = yield* server.fetch("/openapi.json")
      assert.strictEqual(openapi.status, 200)
      const spec = (yield* Effect.promise(() => openapi.json())) as any
      // A valid OpenAPI 3.x document, checked against the specification's own JSON Schema.
      const validation = yield* Effect.promise(() => new Validator().validate(spec))
      assert.isTrue(validation.valid, JSON.stringify(validation.errors))
      assert.match(spec.openapi, /^3\./)
      // Every endpoint of the contract is in the document, under its path and method.
      const endpoints: ReadonlyArray<readonly [string, string]> = [
        ["/v1/approvals", "get"],
        ["/v1/runs/{runId}/approvals/{nodeId}", "get"],
        ["/v1/runs/{runId}/approvals/{nodeId}/decision", "post"],
        ["/v1/runs", "get"],
        ["/v1/runs/{runId}", "get"],
        ["/v1/runs/{runId}/timeline", "get"],
        ["/v1/runs/{runId}/cancel", "post"],
        ["/v1/runs/{runId}/resume", "post"],
        ["/v1/runs/{runId}/fork", "post"],
        ["/v1/workflows/{name}/runs", "post"],
        ["/v1/runs/{runId}/deferreds/{name}", "post"],
        ["/v1/events", "get"],
        ["/v1/events/stream", "get"],
        ["/v1/runs/{runId}/audit", "get"],
        ["/v1/audit/verify", "get"],
        ["/metrics", "get"],
        ["/healthz", "get"],
        ["/readyz", "get"]
      ]
      for (const [route, method] of endpoints) assert.isDefined(spec.paths[route]?.[method], `${method} ${route}`)
      // The repairs say what they do and which errors they answer.
      for (const route of ["/v1/runs/{runId}/resume", "/v1/runs/{runId}/fork"]) {
        const operation = spec.paths[route].post
        assert.include(operation.summary, "operators only", route)
        assert.isAbove(operation.description?.length ?? 0, 100, route)
      }
      assert.isDefined(spec.paths["/v1/runs/{runId}/resume"].post.responses["409"])
      assert.isDefined(spec.paths["/v1/runs/{runId}/fork"].post.responses["400"])
      assert.isDefined(spec.components.securitySchemes.bearer)
      const docs = yield* server.fetch("/docs")
      assert.strictEqual(docs.status, 200)
      const html = yield* Effect.promise(() => docs.text())
      assert.include(html, "SwaggerUIBundle")
      assert.notInclude(html, "cdn.")
      // Request limits: a request head over 16 KiB is refused by the HTTP server itself.
      const oversized = yield* server.fetch("/healthz", { headers: { "x-padding": "a".repeat(32 * 1024) } })
      assert.strictEqual(oversized.status, 431)
      const challenged = yield* server.fetch("/v1/approvals")
      assert.strictEqual(challenged.headers.get("www-authenticate"), "Bearer realm=\"gatehouse\"")
      for (const path of ["/v1/approvals", "/v1/runs", "/v1/events", "/v1/events/stream", "/v1/audit/verify", "/v1/runs/x/audit"]) {
        assert.strictEqual((yield* server.fetch(path)).status, 401, path)
      }
    }).pipe(Effect.scoped))

  it.live("start: schema-validated payload, Idempotency-Key, roles, unknown workflow", () =>
    Effect.gen(function*() {
      const server = yield* setup
      const sam = yield* server.client(tokens.starter)
      const grace = yield* server.client(tokens.grace)
      const first = yield* sam.runs.start({ path: { name: "ping" }, payload: { payload: { message: "hi" } }, headers: { "idempotency-key": "k-1" } })
      const second = yield* sam.runs.start({ path: { name: "ping" }, payload: { payload: { message: "hi" } }, headers: { "idempotency-key": "k-1" } })
      const other = yield* sam.runs.start({ path: { name: "ping" }, payload: { payload: { message: "hi" } }, headers: {} })
      assert.deepStrictEqual([first.created, second.created, second.runId], [true, false, first.runId])
      assert.notStrictEqual(other.runId, first.runId)
      const created = yield* server.fetch("/v1/workflows/ping/runs", {
        method: "POST", token: tokens.starter, body: JSON.stringify({ payload: { message: "x" } }), headers: { "idempotency-key": "k-2" }
      })
      assert.strictEqual(created.status, 201)
      const repeated = yield* server.fetch("/v1/workflows/ping/runs", {
        method: "POST", token: tokens.starter, body: JSON.stringify({ payload: { message: "x" } }), headers: { "idempotency-key": "k-2" }
      })
      assert.strictEqual(repeated.status, 200)

      // sam reads the run it started; grace may not
      const run = yield* eventually(sam.runs.get({ path: { runId: first.runId } }).pipe(
        Effect.filterOrFail((run) => run.status === "completed", () => "not yet")
      ))
      assert.deepStrictEqual(run.result, { _tag: "Success", value: "hi" })
      const foreign = yield* Effect.either(grace.runs.get({ path: { runId: first.runId } }))
      assert.isTrue(Either.isLeft(foreign) && foreign.left._tag === "Forbidden")

      const invalid = yield* server.fetch("/v1/workflows/refund/runs", {
        method: "POST", token: tokens.starter, body: JSON.stringify({ payload: { ticketId: "T-9", amount: "ten" } })
      })
      assert.strictEqual(invalid.status, 400)
      const body = (yield* Effect.promise(() => invalid.json())) as any
      assert.strictEqual(body._tag, "InvalidPayload")
      assert.include(body.reason, "amount")
      assert.strictEqual((yield* server.fetch("/v1/workflows/nope/runs", { method: "POST", token: tokens.starter, body: "{\"payload\":{}}" })).status, 404)
      assert.strictEqual((yield* server.fetch("/v1/workflows/ping/runs", { method: "POST", token: tokens.grace, body: "{\"payload\":{\"message\":\"x\"}}" })).status, 403)
    }).pipe(Effect.scoped))

  it.live("the event stream delivers events as SSE and resumes after Last-Event-ID", () =>
    Effect.gen(function*() {
      const server = yield* setup
      const operator = yield* server.client(tokens.operator)
      const grace = yield* server.client(tokens.grace)
      const stream = yield* server.fetch("/v1/events/stream", { token: tokens.operator })
      assert.strictEqual(stream.status, 200)
      assert.strictEqual(stream.headers.get("content-type"), "text/event-stream")
      const { runId } = yield* operator.runs.start({ path: { name: "refund" }, payload: { payload: { ticketId: "S-1", amount: 3 } }, headers: {} })
      const [started, requested] = yield* readEvents(stream, 2)
      assert.deepStrictEqual([started.event, started.data.runId, requested.event], ["run.started", runId, "approval.requested"])

      yield* grace.approvals.decide({ path: { runId, nodeId: "refund-decision" }, headers: {}, payload: { verdict: "deny" } })
      const resumed = yield* server.fetch("/v1/events/stream", { token: tokens.operator, headers: { "last-event-id": requested.id } })
      const [next] = yield* readEvents(resumed, 1)
      assert.strictEqual(next.event, "approval.decided")
      assert.strictEqual(next.data.actor, "grace")

      assert.strictEqual((yield* server.fetch("/v1/events/stream?after=garbage", { token: tokens.operator })).status, 400)
      assert.strictEqual((yield* server.fetch("/v1/events/stream", { token: tokens.grace })).status, 403)
    }).pipe(Effect.scoped))

  it.live("an approval whose node id has a slash is addressed with %2F", () =>
    Effect.gen(function*() {
      const server = yield* setup
      const operator = yield* server.client(tokens.operator)
      const grace = yield* server.client(tokens.grace)
      const { runId } = yield* operator.runs.start({ path: { name: "deploy" }, payload: { payload: { version: "1.2.3" } }, headers: {} })
      const response = yield* eventually(server.fetch(`/v1/runs/${runId}/approvals/${encodeURIComponent("ship/approval")}`, { token: tokens.grace }).pipe(
        Effect.filterOrFail((response) => response.status === 200, (response) => response.status)
      ))
      assert.strictEqual(((yield* Effect.promise(() => response.json())) as any).nodeId, "ship/approval")
      const approval = yield* grace.approvals.get({ path: { runId, nodeId: "ship/approval" } })
      assert.strictEqual(approval.nodeId, "ship/approval")
      const decided = yield* grace.approvals.decide({ path: { runId, nodeId: "ship/approval" }, headers: {}, payload: { verdict: "approve" } })
      assert.strictEqual(decided.status, "decided")
      const run = yield* eventually(operator.runs.get({ path: { runId } }).pipe(
        Effect.filterOrFail((run) => run.status === "completed", () => "not yet")
      ))
      assert.deepStrictEqual(run.result, { _tag: "Success", value: "shipped 1.2.3" })
    }).pipe(Effect.scoped))
})
