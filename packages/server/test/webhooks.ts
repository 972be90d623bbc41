import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Approvals, Directory, Webhooks } from "@gatehouse/engine"
import { Webhook } from "standardwebhooks"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { authConfig, type Engine, eventually, serve, tokens } from "./utils/fixtures.js"
import { makeReceiver, verifySignature } from "@gatehouse/test-utils/Receiver"

/** The webhooks group over real HTTP, with the server's own dispatcher delivering to a real receiver. */
export const suite = (name: string, makeEngine: Effect.Effect<Engine, unknown, Scope.Scope>) =>
  describe(name, () => {
    const setup = Effect.flatMap(makeEngine, (engine) =>
      serve(
        engine,
        { dispatchWebhooks: { pollInterval: "100 millis", timeout: "5 seconds", initialDelay: "100 millis" } },
        authConfig,
        Layer.merge(
          Webhooks.layerAllowedHosts(["127.0.0.1"]),
          Webhooks.layerSecretKey(Redacted.make(Buffer.alloc(32, 3).toString("base64")))
        ) as Layer.Layer<any>
      ))

    it.live("subscribe, receive signed events, inspect deliveries, test, redeliver, rotate, disable, remove", () =>
      Effect.gen(function*() {
        const server = yield* setup
        const receiver = yield* makeReceiver
        const operator = yield* server.client(tokens.operator)

        const created = yield* operator.webhooks.create({
          payload: { url: receiver.url, eventTypes: ["approval.*", "webhook.test"], workflows: ["refund"] }
        })
        const { secret, subscription } = created
        assert.match(secret, /^whsec_/)
        const listed = yield* server.fetch("/v1/webhooks", { token: tokens.operator })
        assert.strictEqual(listed.status, 200)
        const text = yield* Effect.promise(() => listed.text())
        assert.notInclude(text, secret.slice(6), "the secret is never returned after creation")
        assert.deepStrictEqual((yield* operator.webhooks.get({ path: { webhookId: subscription.id } })).id, subscription.id)
        const stored = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ secrets: string }>`
          SELECT secrets FROM gatehouse_webhooks`).pipe(Effect.provide(server.context))
        assert.include(stored[0].secrets, "sealed:v1:", "sealed at rest with the server's key")
        assert.notInclude(stored[0].secrets, secret.slice(6))

        const started = yield* operator.runs.start({
          path: { name: "refund" },
          payload: { payload: { ticketId: "W-1", amount: 12 } },
          headers: {}
        })
        yield* operator.runs.start({ path: { name: "ping" }, payload: { payload: { message: "hi" } }, headers: {} })
        yield* receiver.until((received) => received.some((r) => JSON.parse(r.body).type === "approval.requested"))
          .pipe(Effect.timeout("60 seconds"))
        const requested = receiver.received.find((r) => JSON.parse(r.body).type === "approval.requested")!
        assert.isTrue(verifySignature(secret, requested))
        // A receiver using the Standard Webhooks library verifies it too (real clock: the timestamp is now).
        assert.doesNotThrow(() =>
          new Webhook(secret).verify(requested.body, {
            "webhook-id": requested.id,
            "webhook-timestamp": requested.timestamp,
            "webhook-signature": requested.signature
          })
        )
        const body = JSON.parse(requested.body)
        assert.strictEqual(body.data.runId, started.runId)
        assert.strictEqual(body.data.approval.title, "Refund 12?")
        assert.deepStrictEqual(body.data.approval.metadata, { ticketId: "W-1", amount: 12 })
        assert.isTrue(receiver.received.every((r) => JSON.parse(r.body).data.workflow === "refund"))

        const page = yield* eventually(
          operator.webhooks.deliveries({ urlParams: { webhookId: subscription.id } }).pipe(
            Effect.filterOrFail((page) => page.deliveries.some((d) => d.status === "delivered"), () => "not yet")
          )
        )
        const delivered = page.deliveries.find((d) => d.id === requested.id)!
        assert.strictEqual(delivered.event.type, "approval.requested")
        const detail = yield* operator.webhooks.delivery({ path: { deliveryId: requested.id } })
        assert.strictEqual(detail.history?.[0].statusCode, 200)

        const test = yield* operator.webhooks.test({ path: { webhookId: subscription.id } })
        assert.strictEqual(test.event.type, "webhook.test")
        yield* receiver.until((received) => received.some((r) => r.id === test.id)).pipe(Effect.timeout("60 seconds"))

        yield* eventually(
          operator.webhooks.redeliver({ path: { deliveryId: requested.id } }).pipe(
            Effect.filterOrFail((d) => d.status === "pending", () => "in flight")
          )
        )
        yield* receiver.until((received) => received.filter((r) => r.id === requested.id).length === 2)
          .pipe(Effect.timeout("60 seconds"))

        const rotated = yield* operator.webhooks.rotateSecret({
          path: { webhookId: subscription.id },
          payload: { overlap: "1 hour" }
        })
        const badOverlap = yield* server.fetch(`/v1/webhooks/${subscription.id}/rotate-secret`, {
          token: tokens.operator,
          method: "POST",
          body: JSON.stringify({ overlap: "forever" })
        })
        assert.strictEqual(badOverlap.status, 400)
        const test2 = yield* operator.webhooks.test({ path: { webhookId: subscription.id } })
        yield* receiver.until((received) => received.some((r) => r.id === test2.id)).pipe(Effect.timeout("60 seconds"))
        const signed = receiver.received.find((r) => r.id === test2.id)!
        assert.isTrue(verifySignature(secret, signed) && verifySignature(rotated.secret, signed))

        const disabled = yield* operator.webhooks.update({ path: { webhookId: subscription.id }, payload: { enabled: false } })
        assert.isFalse(disabled.enabled)
        const removed = yield* server.fetch(`/v1/webhooks/${subscription.id}`, { token: tokens.operator, method: "DELETE" })
        assert.strictEqual(removed.status, 204)
        const gone = yield* server.fetch(`/v1/webhooks/${subscription.id}`, { token: tokens.operator })
        assert.strictEqual(gone.status, 404)
      }).pipe(Effect.scoped), { timeout: 120_000 })

    it.live("issue 19: an operator cannot create decision authority for an invented reviewer over HTTP", () =>
      Effect.gen(function*() {
        const publicUrl = "https://gatehouse.example.com"
        const toGhost = yield* makeReceiver
        const toAna = yield* makeReceiver
        const toGrace = yield* makeReceiver
        const server = yield* Effect.flatMap(makeEngine, (engine) =>
          serve(
            engine,
            {
              dispatchWebhooks: { pollInterval: "100 millis", timeout: "5 seconds", initialDelay: "100 millis" },
              inbox: { publicUrl }
            },
            authConfig,
            Layer.mergeAll(
              Webhooks.layerAllowedHosts(["127.0.0.1"]),
              // The deployment's people: grace is in finance, ana is not; each has their own chat destination.
              Directory.layer([
                { id: "grace", roles: ["finance"], chatWebhooks: [toGrace.url] },
                { id: "ana", chatWebhooks: [toAna.url] }
              ])
            ) as Layer.Layer<any>
          ))
        const post = (body: unknown) =>
          server.fetch("/v1/webhooks", { token: tokens.operator, method: "POST", body: JSON.stringify(body) })
        // The attack of the issue: an invented reviewer with the role the approval needs. Refused, naming the field.
        const ghost = yield* post({ url: toGhost.url, format: "slack", reviewer: { id: "ghost", roles: ["finance"] } })
        assert.strictEqual(ghost.status, 400)
        assert.include(yield* Effect.promise(() => ghost.text()), "reviewer.roles")
        const unknown = yield* post({ url: toGhost.url, format: "slack", reviewer: { id: "ghost" } })
        assert.strictEqual(unknown.status, 400)
        assert.include(yield* Effect.promise(() => unknown.text()), "reviewer.id")
        const borrowed = yield* post({ url: toGhost.url, format: "slack", reviewer: { id: "ana", roles: ["finance"] } })
        assert.strictEqual(borrowed.status, 400)
        assert.deepStrictEqual(yield* Effect.promise(() => server.fetch("/v1/webhooks", { token: tokens.operator })
          .pipe(Effect.flatMap((r) => Effect.promise(() => r.json())), Effect.runPromise)), [])
        // A subscription as the operator stored it before this fix (roles kept in the row): they count for nothing.
        const operator = yield* server.client(tokens.operator)
        const legacy = yield* operator.webhooks.create({ payload: { url: toGhost.url, format: "slack", reviewer: { id: "ana" } } })
        yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql`UPDATE gatehouse_webhooks SET reviewer = ${JSON.stringify({ id: "ghost", roles: ["finance"] })}
            WHERE id = ${legacy.subscription.id}`).pipe(Effect.provide(server.context))
        yield* operator.webhooks.create({ payload: { url: toAna.url, format: "slack", reviewer: { id: "ana" } } })
        // grace is real and in finance, but the operator's own receiver is not grace's destination.
        const toOperator = yield* makeReceiver
        yield* operator.webhooks.create({ payload: { url: toOperator.url, format: "slack", reviewer: { id: "grace" } } })
        const graces = yield* operator.webhooks.create({
          payload: { url: toGrace.url, format: "slack", reviewer: { id: "grace" } }
        })
        assert.deepStrictEqual(graces.subscription.reviewer, { id: "grace" })

        const started = yield* operator.runs.start({
          path: { name: "refund" },
          payload: { payload: { ticketId: `W-ghost-${Math.random()}`, amount: 900 } },
          headers: {}
        })
        const requested = (r: { readonly body: string }) => JSON.parse(r.body).text === "Refund 900?"
        for (const receiver of [toGhost, toAna, toOperator, toGrace]) {
          yield* receiver.until((received) => received.some(requested)).pipe(Effect.timeout("60 seconds"))
        }
        const message = (receiver: typeof toGhost) => receiver.received.find(requested)!.body
        assert.notInclude(message(toGhost), "/inbox/links/", "no action link for a reviewer nobody configured")
        assert.include(message(toGhost), "Open in inbox")
        assert.notInclude(message(toAna), "/inbox/links/", "no action link for a person who is no assignee")
        assert.notInclude(message(toOperator), "/inbox/links/", "no action link to a destination that is not grace's")
        assert.include(message(toGrace), `${publicUrl}/inbox/links/`, "grace, in finance per the directory, gets links")
        const approval = yield* Effect.flatMap(Approvals.Approvals, (approvals) =>
          approvals.get({ runId: started.runId, nodeId: "refund-decision" })).pipe(Effect.provide(server.context))
        assert.strictEqual(approval.status, "waiting-approval")
        // Audited: the operator who created each subscription, and for whom links were minted.
        const audit = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<{ action: string; actor: string; run_id: string | null; data: string }>`SELECT action, actor, run_id, data
            FROM gatehouse_audit WHERE action IN ('webhook.created', 'action-link.minted') ORDER BY seq`).pipe(
            Effect.provide(server.context)
          )
        assert.deepStrictEqual(
          audit.filter((e) => e.action === "webhook.created").map((e) => e.actor),
          ["olivia", "olivia", "olivia", "olivia"]
        )
        const minted = audit.filter((e) => e.action === "action-link.minted")
        assert.deepStrictEqual(
          minted.map((e) => [e.actor, e.run_id, JSON.parse(e.data).reviewer]),
          [0, 1].map(() => [`webhook:${graces.subscription.id}`, started.runId, "grace"])
        )
      }).pipe(Effect.scoped), { timeout: 120_000 })

    it.live("403 for non-operators, 422 outside the allow-list, 400 naming the field; nothing stored", () =>
      Effect.gen(function*() {
        const server = yield* setup
        const post = (token: string, body: unknown) =>
          server.fetch("/v1/webhooks", { token, method: "POST", body: JSON.stringify(body) })
        const forbidden = yield* post(tokens.grace, { url: "http://127.0.0.1:1/x" })
        assert.strictEqual(forbidden.status, 403)
        const unauthenticated = yield* server.fetch("/v1/webhooks")
        assert.strictEqual(unauthenticated.status, 401)
        const outside = yield* post(tokens.operator, { url: "http://169.254.169.254/latest/meta-data" })
        assert.strictEqual(outside.status, 422)
        assert.include(yield* Effect.promise(() => outside.text()), "allow-list")
        const badType = yield* post(tokens.operator, { url: "http://127.0.0.1:1/x", eventTypes: ["NOT VALID"] })
        assert.strictEqual(badType.status, 400)
        assert.include(yield* Effect.promise(() => badType.text()), "eventTypes")
        const noUrl = yield* post(tokens.operator, { eventTypes: ["run.started"] })
        assert.strictEqual(noUrl.status, 400)
        const badStatus = yield* server.fetch("/v1/webhook-deliveries?status=lost", { token: tokens.operator })
        assert.strictEqual(badStatus.status, 400)
        const missing = yield* server.fetch("/v1/webhook-deliveries/msg_none/redeliver", {
          token: tokens.operator,
          method: "POST"
        })
        assert.strictEqual(missing.status, 404)
        const listed = yield* server.fetch("/v1/webhooks", { token: tokens.operator })
        assert.deepStrictEqual(yield* Effect.promise(() => listed.json()), [])
        const openapi = yield* Effect.promise(() => server.fetch("/openapi.json").pipe(Effect.runPromise))
        const spec = yield* Effect.promise(() => openapi.json() as Promise<{ components: { schemas: Record<string, unknown> } }>)
        assert.property(spec.components.schemas, "WebhookEvent", "the body receivers get is documented")
      }).pipe(Effect.scoped), { timeout: 60_000 })
  })

