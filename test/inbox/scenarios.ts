/**
 * The reviewer inbox in a real browser, every scenario of the issue, written once and run on SQLite and
 * on PostgreSQL. The engine has a real runner; the browser only uses accessible names (labels, buttons).
 */
import { ActionLinks, Approvals, Audit } from "@gatehouse/engine"
import { Inbox } from "@gatehouse/server"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import type { Browser, BrowserContext, Page } from "playwright-core"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import { Board, type Dialect, Draft, Expense, launch, Refund, runStatus, type Running, start, tokens, until } from "./harness.js"

const approvalsOf = Effect.map(Approvals.Approvals, (service) => service)

export const suite = (dialect: Dialect) =>
  describe(`reviewer inbox in chromium (${dialect})`, () => {
    let browser: Browser
    let running: Running
    const contexts: Array<BrowserContext> = []

    beforeAll(async () => {
      ;[browser, running] = await Promise.all([launch(), start(dialect)])
    }, 120_000)

    afterAll(async () => {
      for (const context of contexts) await context.close().catch(() => {})
      await browser?.close()
      await running?.close()
    }, 60_000)

    const newPage = async (): Promise<Page> => {
      const context = await browser.newContext()
      contexts.push(context)
      const page = await context.newPage()
      page.setDefaultTimeout(30_000)
      return page
    }

    const signIn = async (who: keyof typeof tokens, next = "/inbox"): Promise<Page> => {
      const page = await newPage()
      await page.goto(`${running.baseUrl}${next}`)
      await page.getByLabel("Token").fill(tokens[who])
      await page.getByRole("button", { name: "Sign in" }).click()
      await page.getByRole("button", { name: "Sign out" }).waitFor()
      return page
    }

    const approval = (runId: string, nodeId: string) =>
      running.run(Effect.flatMap(approvalsOf, (approvals) => approvals.get({ runId, nodeId })))

    const startRun = async <A>(effect: Effect.Effect<string, A, any>, status = "waiting-approval") => {
      const runId = await running.run(effect)
      await runStatus(running, runId, [status])
      return runId
    }

    const open = (page: Page, runId: string, nodeId: string) =>
      page.goto(`${running.baseUrl}/inbox/${encodeURIComponent(runId)}/${encodeURIComponent(nodeId)}`)

    it("sign in, the inbox lists the approval, approve it with a note and an amount: the run resumes", async () => {
      const runId = await startRun(Refund.start({ ticketId: `T-${dialect}-1`, amount: 120 }, { startedBy: "desk" }))
      const page = await signIn("grace")
      const title = `Refund 120 EUR for T-${dialect}-1?`
      const row = page.getByRole("row").filter({ hasText: title })
      await row.waitFor()
      assert.include(await row.innerText(), "0 of 1 approval")
      assert.include(await row.innerText(), "in 6 days")
      await row.getByRole("link", { name: title }).click()
      await page.getByRole("heading", { name: title }).waitFor()
      // What the reviewer needs: metadata as a table (escaped), why it is waiting, the request hash.
      const metadata = page.getByRole("table", { name: "Metadata" })
      assert.include(await metadata.innerText(), "Ada Lovelace <ada@example.com>")
      const why = await page.getByRole("region", { name: "Why it is waiting" }).innerText()
      assert.include(why, "Approval.request(\"refund-decision\")")
      assert.include(why, "1 more approval needed")
      assert.include(why, "it counts as denied")
      const current = await approval(runId, "refund-decision")
      assert.include(await page.locator("code.hash").innerText(), current.requestHash)
      const amount = page.getByLabel("Approved amount")
      assert.strictEqual(await amount.getAttribute("type"), "number")
      assert.strictEqual(await amount.getAttribute("min"), "0")
      assert.strictEqual(await amount.getAttribute("max"), "120")
      await page.getByLabel("Note").fill("Goodwill, minus shipping")
      await amount.fill("100")
      await page.getByRole("button", { name: "Approve" }).click()
      await page.getByText("Your decision was recorded.").waitFor()
      assert.include(await page.getByRole("region", { name: "Decision" }).innerText(), "approved by grace")
      await runStatus(running, runId, ["completed"])
      const result = await running.run(Refund.result(runId))
      assert.deepStrictEqual(result._tag === "Success" ? result.value : undefined, { approved: true, refunded: 100 })
      const audit = await running.run(Audit.forRun(runId))
      const decided = audit.find((entry) => entry.action === "approval.decided")!
      assert.strictEqual(decided.actor, "grace")
      assert.strictEqual(decided.note, "Goodwill, minus shipping")
      assert.strictEqual(decided.requestHash, current.requestHash)
      // The run page: timeline and audit verification.
      await page.goto(`${running.baseUrl}/inbox/runs/${encodeURIComponent(runId)}`)
      assert.include(await page.locator("main").innerText(), "verified")
      assert.include(await page.getByRole("table", { name: "Nodes" }).innerText(), "pay")
      // Decided by me lists it.
      await page.goto(`${running.baseUrl}/inbox?status=mine`)
      await page.getByRole("row").filter({ hasText: title }).waitFor()
    })

    it("a quorum of two: the second reviewer sees 1 of 2, and her approval decides", async () => {
      const runId = await startRun(Board.start({ id: `B-${dialect}-1` }))
      const grace = await signIn("grace")
      await open(grace, runId, "budget-sign-off")
      await grace.getByRole("button", { name: "Approve" }).click()
      await grace.getByText("Your vote was recorded; more approvals are needed.").waitFor()
      const henry = await signIn("henry")
      const row = henry.getByRole("row").filter({ hasText: `Budget B-${dialect}-1` })
      await row.waitFor()
      assert.include(await row.innerText(), "1 of 2 approvals")
      await open(henry, runId, "budget-sign-off")
      const why = await henry.getByRole("region", { name: "Why it is waiting" }).innerText()
      assert.include(why, "1 of 2 approvals")
      assert.include(why, "Who may still sign: henry")
      assert.include(why, "next escalation to olivia")
      assert.include(await henry.getByRole("table", { name: "Votes" }).innerText(), "grace")
      await henry.getByRole("button", { name: "Approve" }).click()
      await henry.getByText("Your decision was recorded.").waitFor()
      await runStatus(running, runId, ["completed"])
    })

    it("a stale page: the request changed since it was opened, the reviewer sees the new content, nothing is recorded", async () => {
      const runId = await startRun(Draft.start({ id: `D-${dialect}-1` }))
      const page = await signIn("grace")
      await open(page, runId, "text")
      await page.getByText("We ship on Monday.").waitFor()
      // Meanwhile another reviewer asks for changes and the runner produces revision 2.
      await running.run(Effect.flatMap(approvalsOf, (approvals) =>
        approvals.decide({ runId, nodeId: "text", verdict: "request-changes", by: { id: "henry", roles: ["finance"] }, note: "a day later" })
      ))
      await until("revision 2", async () => (await approval(runId, "text")).revision === 2 ? true : undefined)
      await page.getByRole("button", { name: "Approve" }).click()
      await page.getByText("This request changed since you opened it").waitFor()
      assert.include(await page.locator("pre.reviewed").innerText(), "We ship on Tuesday (a day later).")
      const current = await approval(runId, "text")
      assert.strictEqual(current.status, "waiting-approval")
      assert.strictEqual(current.revision, 2)
      assert.deepStrictEqual(current.votes, [])
    })

    it("request changes: revision 2 is shown with what changed", async () => {
      const runId = await startRun(Draft.start({ id: `D-${dialect}-2` }))
      const page = await signIn("grace")
      await open(page, runId, "text")
      await page.getByLabel("Note").fill("move it to Tuesday")
      await page.getByRole("button", { name: "Request changes" }).click()
      await page.getByText("Your decision was recorded.").waitFor()
      await until("revision 2", async () => (await approval(runId, "text")).revision === 2 ? true : undefined)
      await open(page, runId, "text")
      await page.getByText("What changed since revision 1").waitFor()
      const diff = await page.getByRole("table", { name: "Changes since revision before" }).innerText()
      assert.include(diff, "We ship on Monday.")
      assert.include(diff, "We ship on Tuesday (move it to Tuesday).")
      assert.include(await page.locator("main").innerText(), "Requested changes: move it to Tuesday")
    })

    it("a reviewer not allowed sees no buttons, with the reason; someone else's approval is not shown", async () => {
      const runId = await startRun(Refund.start({ ticketId: `T-${dialect}-2`, amount: 50 }))
      const olivia = await signIn("olivia")
      await open(olivia, runId, "refund-decision")
      await olivia.getByRole("heading", { name: `Refund 50 EUR for T-${dialect}-2?` }).waitFor()
      for (const name of ["Approve", "Deny", "Request changes"]) {
        assert.strictEqual(await olivia.getByRole("button", { name, exact: true }).count(), 0)
      }
      assert.include(await olivia.getByRole("list", { name: "Unavailable actions" }).innerText(), "Approve: not available")
      const mallory = await signIn("mallory")
      const response = await open(mallory, runId, "refund-decision")
      assert.strictEqual(response?.status(), 404)
      assert.strictEqual(await mallory.getByRole("button", { name: "Approve" }).count(), 0)
    })

    it("the inbox updates live, without a reload, when an approval arrives", async () => {
      const page = await signIn("grace")
      await page.evaluate(() => ((globalThis as any).__noReload = true))
      const runId = await running.run(Expense.start({ id: `E-${dialect}-live` }))
      await page.getByRole("row").filter({ hasText: `Expense E-${dialect}-live` }).waitFor({ timeout: 60_000 })
      assert.isTrue(await page.evaluate(() => (globalThis as any).__noReload === true))
      assert.include(await page.locator("#live-status").innerText(), "Updated")
      // And when it is decided elsewhere, it leaves the list.
      await runStatus(running, runId, ["waiting-approval"])
      await running.run(Effect.flatMap(approvalsOf, (approvals) =>
        approvals.decide({ runId, nodeId: "expense-check", verdict: "deny", by: { id: "henry", roles: ["finance"] } })
      ))
      await page.getByRole("row").filter({ hasText: `Expense E-${dialect}-live` }).waitFor({ state: "detached", timeout: 60_000 })
      assert.isTrue(await page.evaluate(() => (globalThis as any).__noReload === true))
    })

    it("bulk approve of three: three separate audited decisions", async () => {
      const ids = [1, 2, 3].map((i) => `E-${dialect}-bulk-${i}`)
      const runIds = await Promise.all(ids.map((id) => startRun(Expense.start({ id }))))
      const page = await signIn("grace")
      for (const id of ids) {
        await page.getByRole("checkbox", { name: new RegExp(`Select Expense ${id} `) }).check()
      }
      await page.getByLabel("Note").fill("monthly batch")
      await page.getByRole("button", { name: "Approve" }).click()
      await page.getByRole("heading", { name: "Approved 3 approvals" }).waitFor()
      for (const runId of runIds) {
        await runStatus(running, runId, ["completed"])
        const audit = await running.run(Audit.forRun(runId))
        const decided = audit.filter((entry) => entry.action === "approval.decided")
        assert.strictEqual(decided.length, 1)
        assert.strictEqual(decided[0].actor, "grace")
        assert.strictEqual(decided[0].note, "monthly batch")
      }
    })

    it("an action link: GET alone decides nothing, confirm decides, a reuse or a changed request is refused", async () => {
      const runId = await startRun(Refund.start({ ticketId: `T-${dialect}-3`, amount: 80 }))
      const { token } = await running.run(Effect.flatMap(ActionLinks.ActionLinks, (links) =>
        links.mint({ runId, nodeId: "refund-decision", reviewer: { id: "grace", roles: ["finance"] }, verdict: "approve" })
      ))
      const url = Inbox.actionLinkUrl(running.baseUrl, token)
      // A link scanner: GETs, no POST.
      for (let i = 0; i < 2; i++) assert.strictEqual((await fetch(url)).status, 200)
      assert.strictEqual((await approval(runId, "refund-decision")).status, "waiting-approval")
      const page = await newPage()
      await page.goto(url)
      await page.getByText("Nothing is decided until you confirm").waitFor()
      await page.getByLabel("Approved amount").fill("80")
      await page.getByRole("button", { name: "Approve" }).click()
      await page.getByRole("heading", { name: "Approved" }).waitFor()
      await runStatus(running, runId, ["completed"])
      const decided = await approval(runId, "refund-decision")
      assert.strictEqual((decided.decision as { decidedBy: string }).decidedBy, "grace")
      const again = await page.goto(url)
      assert.strictEqual(again?.status(), 410)
      await page.getByText("This link was already used.").waitFor()

      // A link to a request that has since changed (a new revision) is refused, and decides nothing.
      const draftId = await startRun(Draft.start({ id: `D-${dialect}-link` }))
      const stale = await running.run(Effect.flatMap(ActionLinks.ActionLinks, (links) =>
        links.mint({ runId: draftId, nodeId: "text", reviewer: { id: "grace", roles: ["finance"] }, verdict: "approve" })
      ))
      await running.run(Effect.flatMap(approvalsOf, (approvals) =>
        approvals.decide({ runId: draftId, nodeId: "text", verdict: "request-changes", by: { id: "henry", roles: ["finance"] }, note: "later" })
      ))
      await until("revision 2", async () => (await approval(draftId, "text")).revision === 2 ? true : undefined)
      const changed = await page.goto(Inbox.actionLinkUrl(running.baseUrl, stale.token))
      assert.strictEqual(changed?.status(), 410)
      await page.getByText("The request changed since this link was sent.").waitFor()
      assert.strictEqual(await page.getByRole("button", { name: "Approve" }).count(), 0)
      assert.strictEqual((await approval(draftId, "text")).status, "waiting-approval")
    })

    it("a POST without the CSRF token is refused and changes nothing", async () => {
      const runId = await startRun(Refund.start({ ticketId: `T-${dialect}-4`, amount: 30 }))
      const page = await signIn("grace")
      const current = await approval(runId, "refund-decision")
      const target = `${running.baseUrl}/inbox/${encodeURIComponent(runId)}/refund-decision`
      const form = { verdict: "deny", requestHash: current.requestHash, note: "forged" }
      // The session cookie goes along (same browser context), but no token, or a wrong one.
      const without = await page.request.post(target, { form, maxRedirects: 0 })
      assert.strictEqual(without.status(), 403)
      const wrong = await page.request.post(target, { form: { ...form, _csrf: "x".repeat(43) }, maxRedirects: 0 })
      assert.strictEqual(wrong.status(), 403)
      assert.strictEqual((await approval(runId, "refund-decision")).status, "waiting-approval")
      // Signing out ends the session.
      await page.getByRole("button", { name: "Sign out" }).click()
      await page.getByRole("button", { name: "Sign in" }).waitFor()
      await page.goto(`${running.baseUrl}/inbox`)
      await page.getByRole("button", { name: "Sign in" }).waitFor()
    })

    it.runIf(process.env.GATEHOUSE_SCREENSHOTS === "1" && dialect === "sqlite")("screenshots for the docs", async () => {
      const runId = await startRun(Refund.start({ ticketId: "T-1001", amount: 120 }, { startedBy: "support-desk" }))
      await startRun(Board.start({ id: "Q3-marketing" }))
      const page = await signIn("grace")
      await page.setViewportSize({ width: 1280, height: 720 })
      await page.getByRole("row").filter({ hasText: "T-1001" }).waitFor()
      const docs = path.join(__dirname, "..", "..", "docs")
      await page.screenshot({ path: path.join(docs, "inbox.png"), fullPage: true })
      await open(page, runId, "refund-decision")
      await page.getByLabel("Note").fill("Goodwill refund, minus shipping.")
      await page.getByLabel("Approved amount").fill("100")
      await page.screenshot({ path: path.join(docs, "inbox-approval.png"), fullPage: true })
    })
  })
