/**
 * Notifications: an expense approval is announced to two endpoints, a system that verifies Standard
 * Webhooks signatures and a reviewer's chat (Slack-compatible messages with one-click links), and the
 * reviewer approves from the chat message's link. Reminders nudge while it waits. Run it with
 * `npm run example scratchpad/notifications.ts`.
 */
import { ActionLinks, Approval, Directory, GatehouseTest, WebhookDispatcher, Webhooks, Workflow } from "@gatehouse/engine"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { createHmac } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { isMain, runExample } from "./run.js"

export const Expense = Workflow.make({
  name: "expense-approval",
  payload: Schema.Struct({ id: Schema.String, amount: Schema.Number, employee: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

export const ExpenseLive = Expense.toLayer((payload) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("manager-approval", {
      title: `Approve ${payload.amount} EUR of expenses for ${payload.employee}?`,
      summary: "Conference travel, receipts attached.",
      metadata: { expense: payload.id, amount: payload.amount, employee: payload.employee },
      timeout: "3 days",
      remind: { after: "1 day", every: "1 day" },
      onDeny: "continue",
      reviewers: { users: ["maria"] }
    })
    return decision.approved ? `reimbursed by decision of ${decision.decidedBy}` : "declined"
  })
)

/** An HTTP endpoint on 127.0.0.1 that keeps what it receives. */
export const receiver: Effect.Effect<
  {
    readonly url: string
    readonly received: Array<{ readonly headers: http.IncomingHttpHeaders; readonly body: string }>
    readonly server: http.Server
  },
  never,
  Scope.Scope
> = Effect.acquireRelease(
  Effect.async((resume) => {
    const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = []
    const server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (chunk: Buffer) => chunks.push(chunk))
      req.on("end", () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") })
        res.writeHead(204).end()
      })
    })
    server.listen(0, "127.0.0.1", () =>
      resume(Effect.succeed({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server })))
  }),
  (r) => Effect.sync(() => r.server.close())
)

/** What a receiver does with the Standard Webhooks headers: HMAC-SHA256 of `id.timestamp.body`. */
export const verify = (secret: string, message: { readonly headers: http.IncomingHttpHeaders; readonly body: string }) => {
  const key = Buffer.from(secret.slice("whsec_".length), "base64")
  const expected = createHmac("sha256", key)
    .update(`${message.headers["webhook-id"]}.${message.headers["webhook-timestamp"]}.${message.body}`)
    .digest("base64")
  return String(message.headers["webhook-signature"]).split(" ").includes(`v1,${expected}`)
}

/**
 * Subscribe both endpoints, start an expense, deliver, approve through the chat message's Approve link
 * (as the inbox's confirm page would), deliver again; report what each endpoint got.
 */
export const scenario = Effect.gen(function*() {
  const endpoint = yield* receiver
  const webhooks = yield* Webhooks.Webhooks
  const { secret } = yield* webhooks.create({ url: `${endpoint.url}/erp`, workflows: ["expense-approval"] })
  // The deployment's directory of people: Maria, reached by her own chat webhook. Links are minted only for
  // a person of the directory, at their own destination (anyone else gets "Open in inbox").
  const people = Directory.layer([
    { id: "maria", name: "Maria", email: "maria@example.com", chatWebhooks: [`${endpoint.url}/chat/maria`] }
  ])
  yield* webhooks.create({ url: `${endpoint.url}/chat/maria`, format: "slack", reviewer: { id: "maria" } }).pipe(
    Effect.provide(people)
  )
  const dispatcher = yield* Layer.build(
    WebhookDispatcher.layerManualFetch({ links: { publicUrl: "https://gatehouse.example.com" } })
  ).pipe(Effect.provide(people), Effect.map(Context.get(WebhookDispatcher.WebhookDispatcher)))
  // On PostgreSQL an event may become readable a moment after its commit: drain until it is there.
  const deliverUntil = (count: number) =>
    dispatcher.drain.pipe(Effect.repeat({ until: () => endpoint.received.length >= count, times: 200 }))

  const runId = yield* Expense.start({ id: "EXP-42", amount: 380, employee: "Jon" })
  yield* GatehouseTest.settle
  yield* deliverUntil(3)
  const chat = endpoint.received.find((m) => m.body.includes("blocks"))!
  const buttons = (JSON.parse(chat.body).blocks as Array<{ type: string; elements?: Array<{ text: { text: string }; url: string }> }>)
    .flatMap((block) => (block.type === "actions" ? block.elements! : []))
  const approveUrl = buttons.find((button) => button.text.text === "Approve")!.url
  const token = decodeURIComponent(approveUrl.slice(approveUrl.lastIndexOf("/") + 1))
  const links = yield* ActionLinks.ActionLinks
  const confirm = yield* links.inspect(token)
  yield* links.redeem({ token, note: "Approved from the chat message" })
  yield* GatehouseTest.settle
  yield* deliverUntil(6)
  const result = yield* Expense.result(runId)
  return {
    erp: endpoint.received.filter((m) => m.headers["webhook-id"] !== undefined && !m.body.includes("blocks")).map((m) => ({
      type: JSON.parse(m.body).type as string,
      verified: verify(secret, m)
    })),
    chat: endpoint.received.filter((m) => m.body.includes("blocks")).map((m) => JSON.parse(m.body).text as string),
    buttons: buttons.map((button) => button.text.text),
    link: { reviewer: confirm.reviewer.id, verdict: confirm.verdict },
    result: result._tag === "Success" ? result.value : "failed"
  }
}).pipe(Effect.scoped, Effect.provide(Webhooks.layerAllowedHosts(["127.0.0.1"])))

if (isMain(import.meta.url)) runExample(ExpenseLive, scenario)
