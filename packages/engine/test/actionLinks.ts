import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { ActionLinks, Approval, Approvals, Audit, Directory, GatehouseTest, Workflow } from "@gatehouse/engine"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext } from "./utils/engine.js"

const Refund = Workflow.make({
  name: "link-refund",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const RefundLive = Refund.toLayer(() =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("refund", {
      title: "Refund 120?",
      timeout: "2 days",
      onDeny: "continue",
      reviewers: { users: ["ana"], roles: ["finance"] }
    })
    return `${decision.outcome} by ${decision.decidedBy}`
  })
)

const Board = Workflow.make({
  name: "link-board",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const BoardLive = Board.toLayer(() =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("budget", {
      title: "Budget?",
      onDeny: "continue",
      reviewers: { users: ["a", "b", "c"], quorum: 2 }
    })
    return decision.outcome
  })
)

const Draft = Workflow.make({
  name: "link-draft",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.Number,
  idempotencyKey: (payload) => payload.id
})

const DraftLive = Draft.toLayer(() =>
  Effect.gen(function*() {
    const reviewed = yield* Approval.review("draft", {
      produce: (_feedback, revision) => Effect.succeed(`v${revision}`),
      request: (text) => ({ title: "Publish?", reviewed: { text }, reviewers: { users: ["ed"] } }),
      maxRevisions: 3
    })
    return reviewed.revision
  })
)

const AllLive = Layer.mergeAll(RefundLive, BoardLive, DraftLive)

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    const engine = Effect.gen(function*() {
      const db = yield* makeDatabase
      return yield* buildEngine(db, AllLive, { pollInterval: Duration.infinity })
    })

    it.scoped("GET-like inspect changes nothing; redeem decides once, as the link's reviewer; a reuse is refused", () =>
      Effect.gen(function*() {
        const context = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ id: "L-1" })
          yield* GatehouseTest.settle
          const links = yield* ActionLinks.ActionLinks
          const approvals = yield* Approvals.Approvals
          const { expiresAt, token } = yield* links.mint({ runId, nodeId: "refund", reviewer: "ana", verdict: "approve" })
          const approval = yield* approvals.get({ runId, nodeId: "refund" })
          // Capped at the approval's deadline (2 days), under the 7-day default.
          assert.strictEqual(expiresAt, approval.deadline)
          // Only the hash is stored.
          const sql = yield* SqlClient.SqlClient
          const rows = yield* sql<{ token_hash: string }>`SELECT token_hash FROM gatehouse_action_links`
          assert.isTrue(rows.length >= 1)
          assert.isFalse(rows.some((row) => row.token_hash === token))

          for (let i = 0; i < 3; i++) {
            const link = yield* links.inspect(token)
            assert.strictEqual(link.verdict, "approve")
            assert.strictEqual(link.reviewer.id, "ana")
            assert.strictEqual(link.approval.title, "Refund 120?")
          }
          assert.strictEqual((yield* approvals.get({ runId, nodeId: "refund" })).status, "waiting-approval")

          const result = yield* links.redeem({ token, note: "ok from my phone" })
          assert.strictEqual(result.status, "decided")
          assert.strictEqual(yield* Effect.flatMap(Refund.result(runId), (exit) => exit), "approved by ana")
          const audit = yield* Audit.forRun(runId)
          const decided = audit.find((entry) => entry.action === "approval.decided")!
          assert.strictEqual(decided.actor, "ana")
          assert.strictEqual(decided.note, "ok from my phone")
          assert.strictEqual(decided.requestHash, approval.requestHash)

          const again = yield* Effect.flip(links.redeem({ token }))
          assert.strictEqual(again._tag, "ActionLinkRefused")
          assert.strictEqual((again as ActionLinks.ActionLinkRefused).reason, "used")
          assert.strictEqual((yield* Effect.flip(links.inspect(token))).reason, "used")
        }).pipe(provideContext(context))
      }))

    it.scoped("mint refuses a reviewer who may not decide, an unknown approval and bad input", () =>
      Effect.gen(function*() {
        const context = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ id: "L-2" })
          yield* GatehouseTest.settle
          const links = yield* ActionLinks.ActionLinks
          const notAllowed = yield* Effect.flip(links.mint({ runId, nodeId: "refund", reviewer: "mallory", verdict: "deny" }))
          assert.strictEqual(notAllowed._tag, "NotAuthorized")
          const viaRole = yield* links.mint({
            runId,
            nodeId: "refund",
            reviewer: { id: "grace", roles: ["finance"] },
            verdict: "deny"
          })
          assert.strictEqual((yield* links.inspect(viaRole.token)).reviewer.roles?.[0], "finance")
          const missing = yield* Effect.flip(links.mint({ runId, nodeId: "nope", reviewer: "ana", verdict: "deny" }))
          assert.strictEqual(missing._tag, "ApprovalNotFound")
          const bad = yield* Effect.flip(links.mint({ runId, nodeId: "refund", reviewer: "ana", verdict: "request-changes" as any }))
          assert.strictEqual(bad._tag, "InvalidDecision")
          assert.include((bad as Approvals.InvalidDecision).reason, "verdict")
          const unknown = yield* Effect.flip(links.inspect("not-a-token"))
          assert.strictEqual(unknown.reason, "unknown")
          const forged = yield* Effect.flip(links.redeem({ token: "A".repeat(43) }))
          assert.strictEqual((forged as ActionLinks.ActionLinkRefused).reason, "unknown")
          assert.strictEqual((yield* (yield* Approvals.Approvals).get({ runId, nodeId: "refund" })).status, "waiting-approval")
        }).pipe(provideContext(context))
      }))

    it.scoped("issue 19: a reviewer given by id gets the Directory's roles only; every mint is audited", () =>
      Effect.gen(function*() {
        const context = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ id: "L-dir" })
          yield* GatehouseTest.settle
          const links = yield* ActionLinks.ActionLinks
          // Nobody in the directory: an id alone carries no role.
          const nobody = yield* Effect.flip(links.mint({ runId, nodeId: "refund", reviewer: "grace", verdict: "deny" }))
          assert.strictEqual(nobody._tag, "NotAuthorized")
          const minted = yield* links.mint({ runId, nodeId: "refund", reviewer: "grace", verdict: "deny", by: "mailer" }).pipe(
            Effect.provide(Directory.layer([{ id: "grace", roles: ["finance"] }]))
          )
          assert.deepStrictEqual((yield* links.inspect(minted.token)).reviewer.roles, ["finance"])
          const audit = (yield* Audit.forRun(runId)).filter((entry) => entry.action === "action-link.minted")
          assert.deepStrictEqual(
            audit.map((entry) => [entry.actor, entry.data]),
            [["mailer", { reviewer: "grace", roles: ["finance"], verdict: "deny", expiresAt: minted.expiresAt }]]
          )
          assert.isTrue((yield* Audit.verify).valid)
        }).pipe(provideContext(context))
      }))

    it.scoped("an expired link is refused and decides nothing", () =>
      Effect.gen(function*() {
        const context = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ id: "L-3" })
          yield* GatehouseTest.settle
          const links = yield* ActionLinks.ActionLinks
          const now = yield* TestClock.currentTimeMillis
          const { expiresAt, token } = yield* links.mint({
            runId,
            nodeId: "refund",
            reviewer: "ana",
            verdict: "approve",
            expiresAt: now + 60_000
          })
          assert.strictEqual(expiresAt, now + 60_000)
          yield* TestClock.adjust("2 minutes")
          assert.strictEqual((yield* Effect.flip(links.inspect(token))).reason, "expired")
          const refused = yield* Effect.flip(links.redeem({ token }))
          assert.strictEqual((refused as ActionLinks.ActionLinkRefused).reason, "expired")
          assert.strictEqual((yield* (yield* Approvals.Approvals).get({ runId, nodeId: "refund" })).status, "waiting-approval")
          const past = yield* Effect.flip(links.mint({ runId, nodeId: "refund", reviewer: "ana", verdict: "approve", expiresAt: now }))
          assert.strictEqual(past._tag, "InvalidDecision")
        }).pipe(provideContext(context))
      }))

    it.scoped("a link for a request that changed (a new revision), or a reviewer no longer allowed, is refused", () =>
      Effect.gen(function*() {
        const context = yield* engine
        yield* Effect.gen(function*() {
          const links = yield* ActionLinks.ActionLinks
          const approvals = yield* Approvals.Approvals
          const draftId = yield* Draft.start({ id: "L-4" })
          yield* GatehouseTest.settle
          const stale = yield* links.mint({ runId: draftId, nodeId: "draft", reviewer: "ed", verdict: "approve" })
          yield* approvals.decide({ runId: draftId, nodeId: "draft", verdict: "request-changes", by: "ed", note: "shorter" })
          yield* GatehouseTest.settle
          assert.strictEqual((yield* approvals.get({ runId: draftId, nodeId: "draft" })).revision, 2)
          assert.strictEqual((yield* Effect.flip(links.inspect(stale.token))).reason, "changed")
          assert.strictEqual(((yield* Effect.flip(links.redeem({ token: stale.token }))) as any).reason, "changed")
          assert.strictEqual((yield* approvals.get({ runId: draftId, nodeId: "draft" })).status, "waiting-approval")

          const boardId = yield* Board.start({ id: "L-5" })
          yield* GatehouseTest.settle
          const link = yield* links.mint({ runId: boardId, nodeId: "budget", reviewer: "a", verdict: "approve" })
          yield* approvals.decide({ runId: boardId, nodeId: "budget", verdict: "approve", by: "a" })
          const refused = yield* Effect.flip(links.inspect(link.token))
          assert.strictEqual(refused.reason, "not-allowed")
          assert.include(refused.message, "may no longer")
          assert.strictEqual((yield* approvals.get({ runId: boardId, nodeId: "budget" })).votes?.length, 1)
        }).pipe(provideContext(context))
      }))

    it.scoped("two redemptions of one link at once: one decides, the other is refused", () =>
      Effect.gen(function*() {
        const context = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ id: "L-6" })
          yield* GatehouseTest.settle
          const links = yield* ActionLinks.ActionLinks
          const { token } = yield* links.mint({ runId, nodeId: "refund", reviewer: "ana", verdict: "deny" })
          const results = yield* Effect.all([links.redeem({ token }), links.redeem({ token })], {
            concurrency: "unbounded",
            mode: "either"
          })
          const decided = results.filter((result) => result._tag === "Right")
          const refused = results.filter((result) => result._tag === "Left")
          assert.strictEqual(decided.length, 1)
          assert.strictEqual(refused.length, 1)
          assert.deepStrictEqual(yield* Refund.result(runId), Exit.succeed("denied by ana"))
        }).pipe(provideContext(context))
      }))
  })
