import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import {
  ActionLinks,
  Approval,
  Approvals,
  Audit,
  Directory,
  GatehouseTest,
  WebhookDispatcher,
  Webhooks,
  Workflow
} from "@gatehouse/engine"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as os from "node:os"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext } from "./utils/engine.js"
import { makeReceiver, type Received, verifySignature } from "@gatehouse/test-utils/Receiver"

const Notify = Workflow.make({
  name: "wh-notify",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const NotifyLive = Notify.toLayer(() =>
  Effect.gen(function*() {
    const first = yield* Approval.request("first", { title: "First?", metadata: { step: 1 }, onDeny: "continue" })
    const second = yield* Approval.request("second", { title: "Second?", onDeny: "continue" })
    return `${first.outcome}/${second.outcome}`
  })
)

const Other = Workflow.make({
  name: "wh-other",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const OtherLive = Other.toLayer(() =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("only", { title: "Other?", onDeny: "continue" })
    return decision.outcome
  })
)

const Remind = Workflow.make({
  name: "wh-remind",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const RemindLive = Remind.toLayer(() =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("nudge-me", {
      title: "Please decide",
      timeout: "3 days",
      onDeny: "continue",
      remind: { after: "1 day", every: "12 hours" }
    })
    return decision.outcome
  })
)

const Refund = Workflow.make({
  name: "wh-refund",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const RefundLive = Refund.toLayer(() =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("refund", {
      title: "Refund 900?",
      onDeny: "continue",
      reviewers: { roles: ["finance"] }
    })
    return `${decision.outcome} by ${decision.decidedBy}`
  })
)

const AllLive = Layer.mergeAll(NotifyLive, OtherLive, RemindLive, RefundLive)

/**
 * The deployment's directory of people in these tests: ana (no role) and fin (finance), each reached by their
 * own path of the receiver.
 */
const people = (receiverUrl: string) =>
  Directory.layer([
    { id: "ana", name: "Ana", chatWebhooks: [`${receiverUrl}/ana`] },
    { id: "fin", name: "Fin", roles: ["finance"], chatWebhooks: [`${receiverUrl}/fin`] }
  ])

type Message = { text: string; blocks: Array<{ type: string; elements?: Array<{ text: { text: string }; url: string }> }> }
const buttonsOf = (m: Message) =>
  m.blocks.flatMap((b) => b.type === "actions" ? b.elements!.map((e) => [e.text.text, e.url] as const) : [])

const bodyOf = (received: Received): { type: string; data: { event?: string; runId?: string; workflow?: string; approval?: { title: string } } } =>
  JSON.parse(received.body)

/** The first receipt of each webhook-id, in arrival order. */
const firstReceipts = (received: ReadonlyArray<Received>): Array<Received> => {
  const seen = new Set<string>()
  return received.filter((r) => r.status >= 200 && r.status < 300 && !seen.has(r.id) && seen.add(r.id) !== undefined)
}

const cursorKey = (cursor: string): [number, number] => {
  const [tx, seq] = cursor.split("-").map(Number)
  return [tx, seq]
}
const compareCursors = (a: string, b: string): number => {
  const [ta, sa] = cursorKey(a)
  const [tb, sb] = cursorKey(b)
  return ta - tb || sa - sb
}

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    const engine = (options: WebhookDispatcher.DispatcherOptions = {}) =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const context = yield* buildEngine(db, AllLive, { pollInterval: Duration.infinity })
        // The dispatcher takes the allow-list in force where it is built.
        const hooks = yield* Layer.build(
          Layer.mergeAll(Webhooks.layer, WebhookDispatcher.layerManualFetch({ timeout: "5 seconds", ...options })).pipe(
            Layer.provide(Layer.succeedContext(context))
          )
        ).pipe(Effect.provide(Webhooks.layerAllowedHosts(["127.0.0.1"])))
        return Context.merge(context, hooks)
      })
    const allowLocal = Effect.provide(Webhooks.layerAllowedHosts(["127.0.0.1"]))
    const drain = Effect.flatMap(WebhookDispatcher.WebhookDispatcher, (d) => d.drain)
    // On PostgreSQL an event is read from the outbox only once every older transaction has ended (other
    // tests write meanwhile): drain again, every 50 ms of real time, until the condition holds (bounded).
    const drainUntil = (condition: (() => boolean) | Effect.Effect<boolean, unknown, any>, what: string) =>
      Effect.gen(function*() {
        for (let i = 0; i < 1200; i++) {
          yield* drain
          if (typeof condition === "function" ? condition() : yield* Effect.orDie(condition)) return
          yield* TestServices.provideLive(Effect.sleep("50 millis"))
        }
        return yield* Effect.dieMessage(`not reached: ${what}`)
      })
    // The outbox as stored, without the read's visibility rule: what the engine has committed.
    const outbox = (runId: string) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql<{ tx: number | string; seq: number | string; type: string; data: string | null; created_at: number | string }>`
          SELECT tx, seq, type, data, created_at FROM gatehouse_events WHERE run_id = ${runId} ORDER BY tx, seq`.pipe(
          Effect.map((rows) =>
            rows.map((row) => ({
              cursor: `${row.tx}-${row.seq}`,
              type: row.type,
              data: row.data === null ? undefined : JSON.parse(row.data),
              createdAt: Number(row.created_at)
            }))
          ),
          Effect.orDie
        ))
    const webhooks = Webhooks.Webhooks
    const decide = (runId: string, nodeId: string) =>
      Effect.flatMap(Approvals.Approvals, (a) => a.decide({ runId, nodeId, verdict: "approve", by: "ana" }))

    it.scoped("signed per Standard Webhooks; 500 then 200 redelivers once; a workflow filter gets nothing else", () =>
      Effect.gen(function*() {
        const context = yield* engine()
        const receiver = yield* makeReceiver
        yield* Effect.gen(function*() {
          const { secret, subscription } = yield* (yield* webhooks).create({
            url: receiver.url,
            workflows: ["wh-notify"]
          })
          assert.isTrue(secret.startsWith("whsec_"))
          assert.notProperty(subscription, "secret")
          let failed = false
          receiver.respond = ({ body }) => {
            if (!failed && JSON.parse(body).type === "approval.requested") {
              failed = true
              return { status: 500, body: "x".repeat(5000) }
            }
            return { status: 200 }
          }
          const runId = yield* Notify.start({ id: "n-1" })
          const otherId = yield* Other.start({ id: "o-1" })
          yield* GatehouseTest.settle
          yield* drainUntil(() => receiver.received.length >= 2, "run.started and approval.requested sent")
          // run.started delivered, approval.requested failed once: the run's later events wait behind it.
          assert.strictEqual(receiver.received.length, 2)
          yield* TestClock.adjust("10 seconds")
          yield* drain
          yield* decide(runId, "first")
          yield* GatehouseTest.settle
          yield* decide(runId, "second")
          yield* GatehouseTest.settle
          yield* decide(otherId, "only")
          yield* GatehouseTest.settle
          const events = (yield* outbox(runId)).map((e) => e.type)
          assert.strictEqual(events[events.length - 1], "run.completed")
          yield* drainUntil(() => firstReceipts(receiver.received).length === events.length, "every event of the run")
          const delivered = firstReceipts(receiver.received)
          assert.deepStrictEqual(delivered.map((r) => bodyOf(r).type), events)
          for (const r of receiver.received) {
            assert.isTrue(verifySignature(secret, r), "signature verifies with an independent HMAC")
            assert.strictEqual(bodyOf(r).data.runId, runId, "nothing of another workflow")
            assert.strictEqual(bodyOf(r).data.workflow, "wh-notify")
          }
          assert.isFalse(verifySignature("whsec_" + Buffer.alloc(32, 1).toString("base64"), receiver.received[0]))
          // Exactly one duplicate webhook-id: the one answered 500 then 200.
          const perId = new Map<string, number>()
          for (const r of receiver.received) perId.set(r.id, (perId.get(r.id) ?? 0) + 1)
          assert.deepStrictEqual([...perId.values()].filter((n) => n > 1), [2])
          const retried = receiver.received.find((r) => r.status === 500)!
          assert.strictEqual(bodyOf(retried).type, "approval.requested")
          assert.strictEqual(bodyOf(retried).data.approval?.title, "First?")

          const page = yield* (yield* webhooks).deliveries({ webhookId: subscription.id })
          assert.isTrue(page.deliveries.every((d) => d.status === "delivered"))
          const detail = yield* (yield* webhooks).getDelivery(retried.id)
          assert.strictEqual(detail.attempts, 2)
          assert.deepStrictEqual(detail.history?.map((a) => a.statusCode), [500, 200])
          assert.isAtMost(detail.history![0].response!.length, 256, "only a prefix of the response is kept")
        }).pipe(provideContext(context), allowLocal)
      }), { timeout: 60_000 })

    it.scoped("a receiver down during 24 events then up receives all of them, in order per run", () =>
      Effect.gen(function*() {
        const context = yield* engine({ maxDelay: "30 minutes" })
        const receiver = yield* makeReceiver
        yield* Effect.gen(function*() {
          const { secret } = yield* (yield* webhooks).create({ url: receiver.url })
          yield* receiver.stop
          const runIds: Array<string> = []
          for (let i = 0; i < 4; i++) runIds.push(yield* Notify.start({ id: `down-${i}` }))
          yield* GatehouseTest.settle
          for (const node of ["first", "second"]) {
            for (const runId of runIds) yield* decide(runId, node)
            yield* GatehouseTest.settle
          }
          const fannedOut = (yield* webhooks).deliveries().pipe(Effect.map((page) => page.deliveries.length === 24))
          yield* drainUntil(fannedOut, "24 deliveries")
          for (let minutes = 0; minutes < 60; minutes += 10) {
            yield* drain
            yield* TestClock.adjust("10 minutes")
          }
          assert.strictEqual(receiver.received.length, 0)
          const failing = yield* (yield* webhooks).deliveries({ status: "pending" })
          assert.strictEqual(failing.deliveries.length, 24)
          assert.isTrue(failing.deliveries.some((d) => d.attempts > 1 && d.lastError !== undefined))

          yield* receiver.start
          for (let i = 0; i < 40 && firstReceipts(receiver.received).length < 24; i++) {
            yield* TestClock.adjust("30 minutes")
            yield* drain
          }
          const delivered = firstReceipts(receiver.received)
          assert.strictEqual(delivered.length, 24)
          for (const runId of runIds) {
            const expected = (yield* outbox(runId)).map((e) => e.cursor)
            const got = delivered.filter((r) => bodyOf(r).data.runId === runId).map((r) => bodyOf(r).data.event!)
            assert.deepStrictEqual(got, expected, `every event of ${runId}, in order`)
            assert.deepStrictEqual([...got].sort(compareCursors), got)
          }
          assert.isTrue(receiver.received.every((r) => verifySignature(secret, r)))
        }).pipe(provideContext(context), allowLocal)
      }), { timeout: 120_000 })

    it.scoped("dead-lettered after the horizon under TestClock, visible, and redelivered by hand", () =>
      Effect.gen(function*() {
        const context = yield* engine({ horizon: "1 hour", initialDelay: "1 minute" })
        const receiver = yield* makeReceiver
        yield* Effect.gen(function*() {
          receiver.respond = () => ({ status: 503 })
          const { subscription } = yield* (yield* webhooks).create({ url: receiver.url, eventTypes: ["webhook.test"] })
          const test = yield* (yield* webhooks).sendTest(subscription.id)
          let status = "pending"
          for (let i = 0; i < 50 && status !== "dead"; i++) {
            yield* drain
            status = (yield* (yield* webhooks).getDelivery(test.id)).status
            if (status !== "dead") yield* TestClock.adjust("5 minutes")
          }
          const dead = yield* (yield* webhooks).getDelivery(test.id)
          assert.strictEqual(dead.status, "dead")
          const deadCount = yield* Metric.value(Metric.tagged(WebhookDispatcher.metrics.attempts, "outcome", "dead"))
          assert.isAtLeast(deadCount.count, 1, "dead letters are counted in gatehouse_webhook_attempts_total")
          assert.isAbove(dead.attempts, 3)
          assert.strictEqual(dead.lastStatus, 503)
          assert.isTrue(dead.history!.every((a) => a.startedAt <= dead.createdAt + Duration.toMillis("1 hour")))
          const deadList = yield* (yield* webhooks).deliveries({ status: "dead" })
          assert.deepStrictEqual(deadList.deliveries.map((d) => d.id), [test.id])
          const before = receiver.received.length
          yield* TestClock.adjust("1 day")
          yield* drain
          assert.strictEqual(receiver.received.length, before, "a dead delivery is not retried")

          receiver.respond = () => ({ status: 204 })
          const again = yield* (yield* webhooks).redeliver(test.id)
          assert.strictEqual(again.status, "pending")
          yield* drain
          assert.strictEqual((yield* (yield* webhooks).getDelivery(test.id)).status, "delivered")
          assert.strictEqual(receiver.received[receiver.received.length - 1].id, test.id)
          const pending = yield* (yield* webhooks).sendTest(subscription.id)
          assert.strictEqual(yield* (yield* webhooks).prune({ olderThan: "1 hour" }), 0, "nothing finished that long ago")
          yield* TestClock.adjust("2 hours")
          assert.strictEqual(yield* (yield* webhooks).prune({ olderThan: "1 hour" }), 1)
          const missingNow = yield* (yield* webhooks).getDelivery(test.id).pipe(Effect.flip)
          assert.strictEqual(missingNow._tag, "DeliveryNotFound")
          assert.strictEqual((yield* (yield* webhooks).getDelivery(pending.id)).status, "pending", "pending is kept")
          const badPrune = yield* (yield* webhooks).prune({ olderThan: "forever" as any }).pipe(Effect.flip)
          assert.deepInclude(badPrune, { _tag: "InvalidWebhook", field: "olderThan" })
          const missing = yield* (yield* webhooks).redeliver("msg_nope").pipe(Effect.flip)
          assert.strictEqual(missing._tag, "DeliveryNotFound")

          // 410 Gone: the receiver asks to stop; the subscription is disabled, the message dead-lettered.
          receiver.respond = () => ({ status: 410 })
          const gone = yield* (yield* webhooks).sendTest(subscription.id)
          yield* drain
          const goneDelivery = yield* (yield* webhooks).getDelivery(gone.id)
          assert.deepStrictEqual([goneDelivery.status, goneDelivery.lastStatus], ["dead", 410])
          assert.isFalse((yield* (yield* webhooks).get(subscription.id)).enabled)
        }).pipe(provideContext(context), allowLocal)
      }), { timeout: 60_000 })

    it.scoped("reminders fire at the simulated times and stop when the approval is decided", () =>
      Effect.gen(function*() {
        const context = yield* engine()
        yield* Effect.gen(function*() {
          const reminders = (runId: string) =>
            Effect.map(outbox(runId), (all) => all.filter((e) => e.type === "approval.reminder"))
          const runId = yield* Remind.start({ id: "r-1" })
          const expired = yield* Remind.start({ id: "r-2" })
          yield* GatehouseTest.settle
          yield* TestClock.adjust("23 hours")
          yield* drain
          assert.strictEqual((yield* reminders(runId)).length, 0)
          yield* TestClock.adjust("1 hour")
          yield* drain
          assert.strictEqual((yield* reminders(runId)).length, 1)
          yield* TestClock.adjust("12 hours")
          yield* drain
          const two = yield* reminders(runId)
          assert.deepStrictEqual(two.map((e) => (e.data as { reminder: number }).reminder), [1, 2])
          assert.deepStrictEqual(two.map((e) => e.createdAt), [Duration.toMillis("1 day"), Duration.toMillis("36 hours")])
          yield* decide(runId, "nudge-me")
          yield* GatehouseTest.settle
          yield* TestClock.adjust("12 hours")
          yield* drain
          assert.strictEqual((yield* reminders(runId)).length, 2, "none after the decision")
          // The undecided one goes on every 12 hours until its deadline (3 days), never at or after it.
          yield* TestClock.adjust("12 hours")
          yield* drain
          yield* TestClock.adjust("2 days")
          yield* GatehouseTest.settle
          yield* drain
          const all = yield* reminders(expired)
          assert.deepStrictEqual(all.map((e) => e.createdAt), [24, 36, 48, 60].map((h) => h * 3_600_000))
          const types = (yield* outbox(expired)).map((e) => e.type)
          assert.include(types, "approval.timed-out")
        }).pipe(provideContext(context))
      }), { timeout: 60_000 })

    it.scoped("creation refuses destinations outside the allow-list and bad input, and stores nothing", () =>
      Effect.gen(function*() {
        const context = yield* engine()
        yield* Effect.gen(function*() {
          const service = yield* webhooks
          const refuse = (input: Webhooks.CreateInput) => service.create(input).pipe(Effect.flip)
          const outside = yield* refuse({ url: "http://10.0.0.5:8080/hook" })
          assert.strictEqual(outside._tag, "DestinationNotAllowed")
          const notHttp = yield* refuse({ url: "ftp://127.0.0.1/hook" })
          assert.strictEqual(notHttp._tag, "DestinationNotAllowed")
          const creds = yield* refuse({ url: "http://user:pw@127.0.0.1/hook" })
          assert.strictEqual(creds._tag, "DestinationNotAllowed")
          const badType = yield* refuse({ url: "http://127.0.0.1/hook", eventTypes: ["Bad Type"] })
          assert.deepInclude(badType, { _tag: "InvalidWebhook", field: "eventTypes.0" })
          const badConcurrency = yield* refuse({ url: "http://127.0.0.1/hook", maxConcurrency: 0 })
          assert.deepInclude(badConcurrency, { _tag: "InvalidWebhook", field: "maxConcurrency" })
          const extra = yield* refuse({ url: "http://127.0.0.1/hook", secret: "mine" } as any)
          assert.deepInclude(extra, { _tag: "InvalidWebhook", field: "secret" })
          assert.strictEqual((yield* service.list).length, 0)
          const badStatus = yield* service.deliveries({ status: "lost" as any }).pipe(Effect.flip)
          assert.deepInclude(badStatus, { _tag: "InvalidWebhook", field: "status" })
          const badCursor = yield* service.deliveries({ cursor: "abc" }).pipe(Effect.flip)
          assert.deepInclude(badCursor, { _tag: "InvalidWebhook", field: "cursor" })
          // Without an allow-list the local machine and private networks are refused, public names are not.
          const local = yield* service.create({ url: "http://127.0.0.1:9/hook" }).pipe(
            Effect.provide(Webhooks.layerAllowedHosts(["*.example.com"])),
            Effect.flip
          )
          assert.strictEqual(local._tag, "DestinationNotAllowed")
          const defaults = yield* service.create({ url: "http://localhost/hook" }).pipe(
            Effect.provide(Layer.succeed(Webhooks.AllowedHosts, undefined)),
            Effect.flip
          )
          assert.strictEqual(defaults._tag, "DestinationNotAllowed")
          const wildcard = yield* service.create({ url: "https://hooks.example.com/x" }).pipe(
            Effect.provide(Webhooks.layerAllowedHosts(["*.example.com"]))
          )
          assert.strictEqual(wildcard.subscription.url, "https://hooks.example.com/x")
          assert.strictEqual((yield* service.list).length, 1)
          const missing = yield* service.get("wh_nope").pipe(Effect.flip)
          assert.strictEqual(missing._tag, "WebhookNotFound")
        }).pipe(provideContext(context), allowLocal)
      }), { timeout: 60_000 })

    it.scoped("chat messages: a person's carry one-click links minted for them, a channel's Open in inbox", () =>
      Effect.gen(function*() {
        const receiver = yield* makeReceiver
        const context = yield* engine({ links: { publicUrl: "https://gatehouse.example.com" } }).pipe(
          Effect.provide(people(receiver.url))
        )
        yield* Effect.gen(function*() {
          const service = yield* webhooks
          yield* service.create({ url: `${receiver.url}/ana`, format: "slack", reviewer: { id: "ana" } })
          yield* service.create({ url: `${receiver.url}/channel`, format: "slack", workflows: ["wh-notify"] })
          const wrong = yield* service.create({ url: receiver.url, reviewer: { id: "ana" } }).pipe(Effect.flip)
          assert.deepInclude(wrong, { _tag: "InvalidWebhook", field: "reviewer" })
          const runId = yield* Notify.start({ id: "chat" })
          yield* GatehouseTest.settle
          yield* drainUntil(() => receiver.received.length >= 2, "the two messages of approval.requested")
          const messages = receiver.received.map((r) => JSON.parse(r.body) as Message)
          assert.strictEqual(messages.length, 2, "run.started makes no chat message")
          const buttons = buttonsOf
          const toAna = buttons(messages.find((m) => buttons(m).length === 3)!)
          const toChannel = buttons(messages.find((m) => buttons(m).length === 1)!)
          assert.deepStrictEqual(toChannel.map(([text]) => text), ["Open in inbox"])
          assert.strictEqual(toChannel[0][1], `https://gatehouse.example.com/inbox/${runId}/first`)
          assert.deepStrictEqual(toAna.map(([text]) => text), ["Approve", "Deny", "Open"])
          assert.strictEqual(messages[0].text, "First?")
          const token = decodeURIComponent(toAna[0][1].split("/inbox/links/")[1])
          const links = yield* ActionLinks.ActionLinks
          const link = yield* links.inspect(token)
          assert.deepStrictEqual([link.reviewer.id, link.verdict, link.nodeId], ["ana", "approve", "first"])
          const decided = yield* links.redeem({ token })
          assert.strictEqual(decided.status, "decided")
          yield* GatehouseTest.settle
          const texts = () => receiver.received.slice(2).map((r) => (JSON.parse(r.body) as Message).text)
          yield* drainUntil(
            () => texts().includes("Decided: First?") && texts().includes("Second?"),
            "the decision and the next request"
          )
          assert.isTrue(receiver.received.every((r) => r.signature.startsWith("v1,")))
        }).pipe(provideContext(context), allowLocal, Effect.provide(people(receiver.url)))
      }), { timeout: 60_000 })

    it.scoped("issue 19: an operator cannot approve as a reviewer who does not exist (roles come from the Directory only)", () =>
      Effect.gen(function*() {
        const receiver = yield* makeReceiver
        const context = yield* engine({ links: { publicUrl: "https://gatehouse.example.com" } }).pipe(
          Effect.provide(people(receiver.url))
        )
        yield* Effect.gen(function*() {
          const service = yield* webhooks
          // The invented reviewer with an invented role: refused, naming the field, nothing stored.
          const ghost = yield* service.create(
            { url: `${receiver.url}/ghost`, format: "slack", reviewer: { id: "ghost", roles: ["finance"] } },
            { by: "olga" }
          ).pipe(Effect.flip)
          assert.deepInclude(ghost, { _tag: "InvalidWebhook", field: "reviewer.roles" })
          const stolen = yield* service.create(
            { url: `${receiver.url}/ghost`, format: "slack", reviewer: { id: "ana", roles: ["finance"] } }
          ).pipe(Effect.flip)
          assert.deepInclude(stolen, { _tag: "InvalidWebhook", field: "reviewer.roles" })
          const unknown = yield* service.create({ url: `${receiver.url}/ghost`, format: "slack", reviewer: { id: "ghost" } })
            .pipe(Effect.flip)
          assert.deepInclude(unknown, { _tag: "InvalidWebhook", field: "reviewer.id" })
          assert.strictEqual((yield* service.list).length, 0)
          // ana is a person of the directory but not in finance; fin is. olga, an operator, creates both.
          const toAna = yield* service.create({ url: `${receiver.url}/ana`, format: "slack", reviewer: { id: "ana" } }, {
            by: "olga"
          })
          const toFin = yield* service.create({ url: `${receiver.url}/fin`, format: "slack", reviewer: { id: "fin" } }, {
            by: "olga"
          })
          // fin is real and in finance, but this URL is the operator's, not one of fin's: no link goes there.
          const toOperator = yield* service.create(
            { url: `${receiver.url}/stolen`, format: "slack", reviewer: { id: "fin" } },
            { by: "olga" }
          )
          // A subscription stored with a reviewer the directory does not know and roles (as before this fix, or
          // written to the database by hand): its roles count for nothing.
          const sql = yield* SqlClient.SqlClient
          const legacy = yield* service.create({ url: `${receiver.url}/legacy`, format: "slack", reviewer: { id: "ana" } })
          yield* sql`UPDATE gatehouse_webhooks SET reviewer = ${JSON.stringify({ id: "ghost", roles: ["finance"] })}
            WHERE id = ${legacy.subscription.id}`
          const runId = yield* Refund.start({ id: `ghost-${Math.random()}` })
          yield* GatehouseTest.settle
          yield* drainUntil(() => receiver.received.length >= 4, "the four chat messages of approval.requested")
          const byPath = (path: string) => {
            const received = receiver.received.filter((r) => r.path.endsWith(path))
            assert.strictEqual(received.length, 1, path)
            return buttonsOf(JSON.parse(received[0].body) as Message)
          }
          const inbox = `https://gatehouse.example.com/inbox/${runId}/refund`
          assert.deepStrictEqual(byPath("/legacy"), [["Open in inbox", inbox]], "no link for an unknown reviewer")
          assert.deepStrictEqual(byPath("/ana"), [["Open in inbox", inbox]], "no link for a person who is no assignee")
          assert.deepStrictEqual(byPath("/stolen"), [["Open in inbox", inbox]], "no link to a destination not theirs")
          const toFinButtons = byPath("/fin")
          assert.deepStrictEqual(toFinButtons.map(([text]) => text), ["Approve", "Deny", "Open"])
          // Nothing was decided; fin's link decides as fin.
          const approvals = yield* Approvals.Approvals
          assert.strictEqual((yield* approvals.get({ runId, nodeId: "refund" })).status, "waiting-approval")
          const token = decodeURIComponent(toFinButtons[0][1].split("/inbox/links/")[1])
          const decided = yield* (yield* ActionLinks.ActionLinks).redeem({ token })
          assert.strictEqual(decided.status, "decided")
          assert.strictEqual((decided.approval.decision as { decidedBy: string }).decidedBy, "fin")
          // Audited: who created each subscription, and for whom links were minted (by which subscription).
          const created = yield* sql<{ actor: string; data: string }>`SELECT actor, data FROM gatehouse_audit
            WHERE action = 'webhook.created' ORDER BY seq`
          assert.deepStrictEqual(
            created.map((row) => [row.actor, JSON.parse(row.data).webhookId, JSON.parse(row.data).reviewer]),
            [
              ["olga", toAna.subscription.id, "ana"],
              ["olga", toFin.subscription.id, "fin"],
              ["olga", toOperator.subscription.id, "fin"],
              ["unknown", legacy.subscription.id, "ana"]
            ]
          )
          assert.notInclude(created.map((row) => row.data).join(), receiver.url, "the URL (a secret for chat) is not audited")
          const minted = (yield* Audit.forRun(runId)).filter((entry) => entry.action === "action-link.minted")
          assert.deepStrictEqual(
            minted.map((entry) => [entry.actor, (entry.data as { reviewer: string }).reviewer]).sort(),
            [[`webhook:${toFin.subscription.id}`, "fin"], [`webhook:${toFin.subscription.id}`, "fin"]]
          )
          assert.deepStrictEqual(
            minted.map((entry) => (entry.data as { verdict: string }).verdict).sort(),
            ["approve", "deny"]
          )
          assert.isTrue((yield* Audit.verify).valid)
        }).pipe(provideContext(context), allowLocal, Effect.provide(people(receiver.url)))
      }), { timeout: 60_000 })

    it.scoped("issue 19: a name resolving to 127.0.0.1 is refused at delivery without an allow-list, delivered when named in it", () =>
      Effect.gen(function*() {
        const context = yield* engine()
        const receiver = yield* makeReceiver
        // The machine's own name (from /etc/hosts: 127.0.0.1 here) passes the check on the URL: only resolving
        // it shows where it points.
        const name = os.hostname().toLowerCase()
        const port = new URL(receiver.url).port
        yield* Effect.gen(function*() {
          const service = yield* webhooks
          const { subscription } = yield* service.create({ url: `http://${name}:${port}/inside`, workflows: ["wh-other"] })
            .pipe(Effect.provide(Layer.succeed(Webhooks.AllowedHosts, undefined)))
          const open = yield* Layer.build(WebhookDispatcher.layerManualFetch({ timeout: "5 seconds" })).pipe(
            Effect.provide(Layer.succeed(Webhooks.AllowedHosts, undefined)),
            Effect.map(Context.get(WebhookDispatcher.WebhookDispatcher))
          )
          yield* Other.start({ id: `inside-${Math.random()}` })
          yield* GatehouseTest.settle
          const dead = () =>
            Effect.map(service.deliveries({ webhookId: subscription.id, status: "dead" }), (page) => page.deliveries)
          for (let i = 0; i < 1200 && (yield* dead()).length < 2; i++) {
            yield* open.drain
            yield* TestServices.provideLive(Effect.sleep("50 millis"))
          }
          const refused = yield* dead()
          assert.strictEqual(refused.length, 2, "run.started and approval.requested dead-lettered")
          assert.strictEqual(receiver.received.length, 0, "nothing reached the receiver")
          const detail = yield* service.getDelivery(refused[0].id)
          assert.match(detail.history![0].error!, /resolves to .*an internal address/)
          // The deployment names the host exactly: it is delivered, to the address resolved and checked.
          yield* service.redeliver(refused[0].id)
          const allowed = yield* Layer.build(WebhookDispatcher.layerManualFetch({ timeout: "5 seconds" })).pipe(
            Effect.provide(Webhooks.layerAllowedHosts([name])),
            Effect.map(Context.get(WebhookDispatcher.WebhookDispatcher))
          )
          for (let i = 0; i < 1200 && receiver.received.length === 0; i++) {
            yield* allowed.drain
            yield* TestServices.provideLive(Effect.sleep("50 millis"))
          }
          assert.strictEqual(receiver.received.length, 1)
          assert.strictEqual(receiver.received[0].id, refused[0].id)
        }).pipe(provideContext(context))
      }), { timeout: 60_000 })

    it.scoped("with a sealing key the secret is not in the database; without the key nothing is signed", () =>
      Effect.gen(function*() {
        const context = yield* engine()
        const receiver = yield* makeReceiver
        const key = Webhooks.layerSecretKey(Redacted.make(Buffer.alloc(32, 7).toString("base64")))
        yield* Effect.gen(function*() {
          const service = yield* webhooks
          const { secret, subscription } = yield* service.create({ url: receiver.url }).pipe(Effect.provide(key))
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ secrets: string }>`SELECT secrets FROM gatehouse_webhooks`
          assert.notInclude(rows[0].secrets, secret.slice(6))
          assert.include(rows[0].secrets, "sealed:v1:")
          const test = yield* service.sendTest(subscription.id)
          yield* drain
          assert.strictEqual(receiver.received.length, 0)
          const failed = yield* service.getDelivery(test.id)
          assert.include(failed.lastError, "GATEHOUSE_WEBHOOK_SECRET_KEY")
          yield* TestClock.adjust("1 minute")
          // A dispatcher built with the key unseals it.
          const keyed = yield* Layer.build(
            WebhookDispatcher.layerManualFetch().pipe(Layer.provide(Layer.succeedContext(context)))
          ).pipe(Effect.provide(Layer.merge(key, Webhooks.layerAllowedHosts(["127.0.0.1"]))))
          yield* Context.get(keyed, WebhookDispatcher.WebhookDispatcher).drain
          assert.strictEqual(receiver.received.length, 1)
          assert.isTrue(verifySignature(secret, receiver.received[0]))
          const badKey = yield* Layer.build(Webhooks.layerSecretKey(Redacted.make("c2hvcnQ="))).pipe(Effect.flip)
          assert.strictEqual(badKey._op, "InvalidData")
        }).pipe(provideContext(context), allowLocal)
      }), { timeout: 60_000 })

    it.live("a receiver that does not answer within the timeout is a failed attempt; at most maxConcurrency in flight", () =>
      Effect.gen(function*() {
        const context = yield* engine({ timeout: "500 millis", initialDelay: "1 hour" })
        const receiver = yield* makeReceiver
        yield* Effect.gen(function*() {
          receiver.respond = () => ({ status: 0, hold: true })
          const service = yield* webhooks
          const { subscription } = yield* service.create({ url: receiver.url })
          const test = yield* service.sendTest(subscription.id)
          yield* drain
          const failed = yield* service.getDelivery(test.id)
          assert.strictEqual(failed.status, "pending")
          assert.include(failed.lastError, "timed out")
          assert.isAbove(failed.nextAttemptAt, failed.createdAt + 30 * 60_000, "retried after the backoff")
          assert.strictEqual(receiver.received.length, 1)

          // Per-endpoint concurrency: six messages to a slow endpoint that allows two at a time.
          receiver.respond = () => ({ status: 200, delayMs: 300 })
          const { subscription: narrow } = yield* service.create({ url: `${receiver.url}/narrow`, maxConcurrency: 2 })
          for (let i = 0; i < 6; i++) yield* service.sendTest(narrow.id)
          yield* drain
          assert.strictEqual(receiver.received.length, 7)
          assert.isAtMost(receiver.maxInFlight("/hook/narrow"), 2)
        }).pipe(provideContext(context), allowLocal)
      }).pipe(Effect.scoped), { timeout: 60_000 })

    it.scoped("a rotated secret signs alongside the previous one until the overlap ends", () =>
      Effect.gen(function*() {
        const context = yield* engine()
        const receiver = yield* makeReceiver
        yield* Effect.gen(function*() {
          const service = yield* webhooks
          const { secret: old, subscription } = yield* service.create({ url: receiver.url })
          const { secret: fresh } = yield* service.rotateSecret(subscription.id, { overlap: "1 hour" })
          assert.strictEqual((yield* service.get(subscription.id)).secrets, 2)
          yield* service.sendTest(subscription.id)
          yield* drain
          const during = receiver.received[0]
          assert.strictEqual(during.signature.split(" ").length, 2)
          assert.isTrue(verifySignature(old, during) && verifySignature(fresh, during))
          yield* TestClock.adjust("2 hours")
          yield* service.sendTest(subscription.id)
          yield* drain
          const after = receiver.received[1]
          assert.isTrue(verifySignature(fresh, after))
          assert.isFalse(verifySignature(old, after))
          yield* service.setEnabled(subscription.id, false)
          yield* Notify.start({ id: "disabled" })
          yield* GatehouseTest.settle
          yield* drain
          assert.strictEqual(receiver.received.length, 2, "a disabled subscription gets nothing")
          yield* service.remove(subscription.id)
          assert.strictEqual((yield* service.list).length, 0)
        }).pipe(provideContext(context), allowLocal)
      }), { timeout: 60_000 })
  })
