import { describe, expect, it } from "vitest"
import * as JSONSchema from "effect/JSONSchema"
import * as Schema from "effect/Schema"
import type { Approvals, Run } from "@gatehouse/engine"
import { askedAgain } from "../src/internal/inbox/approvalPage.js"
import { fieldsOf, payloadOf, renderFields } from "../src/internal/inbox/forms.js"
import { html, raw } from "../src/internal/inbox/html.js"
import { repairFacts } from "../src/internal/inbox/runPage.js"
import * as Session from "../src/internal/inbox/session.js"

describe("inbox: escaping", () => {
  it("escapes every interpolation unless it is markup built here", () => {
    const hostile = `<script>alert("x")</script>' onmouseover='x`
    const out = html`<p title="${hostile}">${hostile}</p>${[hostile, 1, undefined, null, false]}${raw("<br>")}`.value
    expect(out).not.toContain("<script>")
    expect(out).not.toContain(`"x"`)
    expect(out).not.toContain(`' onmouseover`)
    expect(out).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onmouseover=&#39;x")
    expect(out.endsWith("1<br>")).toBe(true)
  })
})

describe("inbox: decision forms from the stored JSON Schema", () => {
  const schema = JSONSchema.make(Schema.Struct({
    approvedAmount: Schema.Number.pipe(Schema.between(0, 120)).annotations({ title: "Approved amount" }),
    count: Schema.Int,
    reason: Schema.optional(Schema.Literal("goodwill", "defect")),
    urgent: Schema.Boolean,
    comment: Schema.optional(Schema.String)
  }))

  it("numbers with bounds, enums, booleans and text, labelled by their titles", () => {
    const fields = fieldsOf(schema)
    expect(fields.map((field) => [field.kind, field.label, field.required])).toEqual([
      ["number", "Approved amount", true],
      ["integer", "Count", true],
      ["enum", "Reason", false],
      ["boolean", "Urgent", true],
      ["string", "Comment", false]
    ])
    const markup = renderFields(fields).value
    expect(markup).toContain(`<label for="field-0">Approved amount</label>`)
    expect(markup).toMatch(/type="number" step="any" min="0" max="120" required/)
    expect(markup).toMatch(/type="number" step="1"/)
  })

  it("posted values become the payload; unparsable numbers stay text so the engine names the field", () => {
    const fields = fieldsOf(schema)
    const form = new URLSearchParams({ "payload.approvedAmount": "100", "payload.count": "abc", "payload.urgent": "on" })
    expect(payloadOf(fields, form)).toEqual({ payload: { approvedAmount: 100, count: "abc", urgent: true } })
    expect(payloadOf(fields, new URLSearchParams())).toBeUndefined()
    expect(payloadOf([], form)).toBeUndefined()
  })

  it("a schema it cannot map gets one JSON field", () => {
    const tuple = JSONSchema.make(Schema.Tuple(Schema.String, Schema.Number))
    const fields = fieldsOf(tuple)
    expect(fields.map((field) => field.kind)).toEqual(["json"])
    expect(payloadOf(fields, new URLSearchParams({ payload: "[\"a\", 1]" }))).toEqual({ payload: ["a", 1] })
    expect(payloadOf(fields, new URLSearchParams({ payload: "{" }))).toEqual({ error: "Payload (JSON) is not valid JSON" })
    expect(fieldsOf(undefined)).toEqual([])
  })
})

describe("inbox: sessions and CSRF tokens", () => {
  const keys = Session.makeKeyring("k".repeat(32))
  const session = { id: "grace", roles: ["finance"], sid: Session.randomId(), exp: 2_000 }

  it("a signed session decodes with the same key until it expires, and not when tampered with", () => {
    const cookie = Session.encodeSession(keys, session)
    expect(Session.decodeCookie(keys, cookie, 1_000)).toEqual(session)
    // Another process with the same key accepts it; one with another key does not.
    expect(Session.decodeCookie(Session.makeKeyring("k".repeat(32)), cookie, 1_000)).toEqual(session)
    expect(Session.decodeCookie(Session.makeKeyring("other-key"), cookie, 1_000)).toBeUndefined()
    expect(Session.decodeCookie(keys, cookie, 2_000)).toBeUndefined()
    const [body, signature] = cookie.split(".")
    const forged = Buffer.from(JSON.stringify({ ...session, roles: ["operator"] })).toString("base64url")
    expect(Session.decodeCookie(keys, `${forged}.${signature}`, 1_000)).toBeUndefined()
    expect(Session.decodeCookie(keys, `${body}.`, 1_000)).toBeUndefined()
    expect(Session.decodeCookie(keys, "garbage", 1_000)).toBeUndefined()
    expect(Session.decodeCookie(keys, undefined, 1_000)).toBeUndefined()
  })

  it("a CSRF token is bound to its session", () => {
    const token = Session.csrfFor(keys, `session:${session.sid}`)
    expect(Session.checkCsrf(keys, `session:${session.sid}`, token)).toBe(true)
    expect(Session.checkCsrf(keys, `session:${Session.randomId()}`, token)).toBe(false)
    expect(Session.checkCsrf(keys, `session:${session.sid}`, undefined)).toBe(false)
    expect(Session.checkCsrf(keys, undefined, token)).toBe(false)
  })
})

describe("inbox: repaired runs", () => {
  const hostile = `<img src=x onerror="alert(1)">`

  it("a run names its origin and its forks as links, escaped; nothing for a run never repaired", () => {
    const run = { forkedFrom: { runId: `a&${hostile}`, nodeId: hostile }, forks: ["f-1", `f<2>`], repairs: 2 } as unknown as Run.Summary
    const out = repairFacts(run).value
    expect(out).toContain(`<dt>Forked from</dt><dd><a href="/inbox/runs/a%26%3Cimg%20src%3Dx%20onerror%3D%22alert(1)%22%3E">a&amp;&lt;img`)
    expect(out).toContain(`(from node <code>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</code>)`)
    expect(out).toContain(`<dt>Forks</dt><dd><a href="/inbox/runs/f-1">f-1</a>, <a href="/inbox/runs/f%3C2%3E">f&lt;2&gt;</a></dd>`)
    expect(out).toContain(`<dt>Resumed</dt><dd>2 times</dd>`)
    expect(out).not.toContain("<img")
    expect(repairFacts({ forkedFrom: { runId: "o", nodeId: "" }, repairs: 0 } as unknown as Run.Summary).value)
      .toContain("(from the start)")
    expect(repairFacts({ repairs: 0 } as unknown as Run.Summary).value).toBe("")
  })

  it("an approval asked again shows the earlier decision, who, when and why, escaped", () => {
    const now = Date.UTC(2026, 0, 3)
    const approval = {
      runId: "r.fork-1",
      previous: {
        runId: "r",
        status: "approved",
        decidedBy: `ana${hostile}`,
        decidedAt: now - 2 * 86_400_000,
        note: hostile,
        requestHash: "h",
        reasons: ["the request changed", "the decision expired"]
      }
    } as unknown as Approvals.ApprovalRecord
    const out = askedAgain(approval, now)!.value
    expect(out).toContain("<strong>Asked again:</strong> approved by ana&lt;img")
    expect(out).toContain(">2 days ago</time>")
    expect(out).toContain(` in run <a href="/inbox/runs/r">r</a>`)
    expect(out).toContain("; the request changed; the decision expired.</p>")
    expect(out).not.toContain("<img")
    expect(askedAgain({ runId: "r" } as unknown as Approvals.ApprovalRecord, now)).toBeUndefined()
  })
})
