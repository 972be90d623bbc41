import { assert, describe, it } from "@effect/vitest"
import { SlackMessage } from "@gatehouse/engine"
import * as Effect from "effect/Effect"

const base: SlackMessage.Content = {
  kind: "requested",
  title: "Refund <120> & more?",
  summary: "Ask <@channel> first",
  metadata: { ticketId: "T-1", amount: 120, nested: { a: 1 } },
  deadline: Date.UTC(2026, 11, 1, 12),
  workflow: "refund",
  runId: "refund-T-1",
  openUrl: "https://gh.example.com/inbox/refund-T-1/decide"
}

const buttons = (payload: SlackMessage.Payload) =>
  payload.blocks.flatMap((block) => (block.type === "actions" ? block.elements.map((b) => b.text.text) : []))

describe("SlackMessage", () => {
  it("a channel gets Open in inbox only; title, summary, metadata and deadline are shown, mrkdwn escaped", () => {
    const message = SlackMessage.format(base)
    assert.strictEqual(message.text, "Refund <120> & more?")
    assert.deepStrictEqual(message.blocks[0], { type: "header", text: { type: "plain_text", text: "Refund <120> & more?" } })
    const json = JSON.stringify(message)
    assert.include(json, "Ask &lt;@channel&gt; first", "no mention can be injected")
    assert.include(json, "*ticketId*\\nT-1")
    assert.include(json, "*nested*\\n{\\\"a\\\":1}")
    assert.include(json, "<!date^1796126400^")
    assert.include(json, "2026-12-01T12:00:00.000Z")
    assert.deepStrictEqual(buttons(message), ["Open in inbox"])
  })

  it("a person gets Approve, Deny and Open; a decided message has no buttons to decide", () => {
    const person = SlackMessage.format({ ...base, actions: { approve: "https://a/approve", deny: "https://a/deny" } })
    assert.deepStrictEqual(buttons(person), ["Approve", "Deny", "Open"])
    const decided = SlackMessage.format({
      ...base,
      kind: "decided",
      decision: { outcome: "Approved", decidedBy: "ana" },
      actions: { approve: "https://a/approve", deny: "https://a/deny" }
    })
    assert.deepStrictEqual(buttons(decided), ["Open"])
    assert.strictEqual(decided.text, "Decided: Refund <120> & more?")
  })

  it("at most ten metadata fields and a header within Block Kit's 150 characters", () => {
    const metadata = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}`, i]))
    const message = SlackMessage.format({ ...base, title: "x".repeat(400), metadata })
    const fields = message.blocks.find((b) => b.type === "section" && b.fields !== undefined)
    assert.strictEqual(fields?.type === "section" ? fields.fields?.length : 0, 10)
    const header = message.blocks[0]
    assert.isAtMost(header.type === "header" ? header.text.text.length : 999, 150)
  })

  it.effect("render mints one link per verdict for the reviewer; a refused mint leaves Open only", () =>
    Effect.gen(function*() {
      const event = {
        type: "approval.reminder",
        timestamp: "2026-01-01T00:00:00.000Z",
        data: {
          runId: "r-1",
          nodeId: "n/1",
          createdAt: 0,
          approval: { title: "T", requestHash: "h", revision: 1, status: "waiting-approval", reviewers: {} }
        }
      }
      const minted: Array<string> = []
      const message = yield* SlackMessage.render(event, {
        links: { publicUrl: "https://gh.example.com/" },
        reviewer: { id: "ana" },
        mint: (input) => Effect.sync(() => (minted.push(`${input.reviewer.id}:${input.verdict}`), { token: `tok-${input.verdict}` }))
      })
      assert.deepStrictEqual(minted, ["ana:approve", "ana:deny"])
      assert.strictEqual(message?.text, "Reminder: T")
      const urls = message!.blocks.flatMap((b) => (b.type === "actions" ? b.elements.map((e) => e.url) : []))
      assert.deepStrictEqual(urls, [
        "https://gh.example.com/inbox/links/tok-approve",
        "https://gh.example.com/inbox/links/tok-deny",
        "https://gh.example.com/inbox/r-1/n%2F1"
      ])
      const refused = yield* SlackMessage.render(event, {
        links: { publicUrl: "https://gh.example.com" },
        reviewer: { id: "mallory" },
        mint: () => Effect.fail("NotAuthorized")
      })
      assert.deepStrictEqual(buttons(refused!), ["Open in inbox"])
      const other = yield* SlackMessage.render({ ...event, type: "run.started" }, {})
      assert.isUndefined(other)
    }))
})
