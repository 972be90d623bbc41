import { assert, describe, it } from "@effect/vitest"
import * as ClientAndConfig from "@gatehouse/scratchpad/client-and-config"
import * as OptionalReview from "@gatehouse/scratchpad/optional-review"
import * as Publish from "@gatehouse/scratchpad/publish"
import * as Redo from "@gatehouse/scratchpad/redo"
import * as Refund from "@gatehouse/scratchpad/refund"
import * as RefundRepair from "@gatehouse/scratchpad/refund-repair"
import * as ReleasePipeline from "@gatehouse/scratchpad/release-pipeline"
import { GatehouseTest } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const pgAvailable = process.env.GATEHOUSE_PG !== "skip"

// Every example in scratchpad/ runs here as a test, on the test kit (in-memory SQLite, TestClock).
describe("scratchpad examples", () => {
  it.effect("refund review: approved with a lower amount, then confirmed by the bank", () =>
    Effect.gen(function*() {
      const outcome = yield* Refund.scenario
      assert.deepStrictEqual(outcome, { ticketId: "T-1001", refunded: 100, status: "refunded", bankReference: "BANK-7781" })
    }).pipe(Effect.provide(GatehouseTest.layer(Refund.RefundReviewLive))))

  it.effect("refund review: a week without a decision declines the refund (TestClock, no waiting)", () =>
    Effect.gen(function*() {
      const runId = yield* Refund.RefundReview.start({ ticketId: "T-1002", amount: 80 })
      yield* GatehouseTest.settle
      yield* TestClock.adjust("7 days")
      const exit = yield* Refund.RefundReview.result(runId)
      assert.deepStrictEqual(exit, Exit.succeed({ ticketId: "T-1002", refunded: 0, status: "declined" as const }))
    }).pipe(Effect.provide(GatehouseTest.layer(Refund.RefundReviewLive))))

  it.effect("refund repair: resumed after the provider came back, paid once, the reviewer not asked again unless the amount changed", () =>
    Effect.gen(function*() {
      const outcome = yield* RefundRepair.scenario
      assert.deepStrictEqual(outcome, {
        first: { failed: "failed", then: "completed", result: { _tag: "Success", value: 40 } },
        second: {
          failed: "failed",
          askedAgain: "waiting-approval",
          previous: { status: "approved", decidedBy: "ana", reasons: ["the request changed"] },
          then: "completed",
          result: { _tag: "Success", value: 45 }
        },
        payments: { "payment-1": 40, "payment-2": 45 }
      })
    }).pipe(Effect.provide(GatehouseTest.layer(RefundRepair.RefundLive))))

  it.effect("release pipeline: QA gate then production gate; a denied QA gate deploys nothing", () =>
    Effect.gen(function*() {
      const outcome = yield* ReleasePipeline.scenario
      assert.deepStrictEqual(outcome, {
        shipped: { version: "1.4.0", environments: ["staging", "production"] },
        denied: "failed: ApprovalDenied",
        deniedRun: ["build:completed", "qa-sign-off:denied"]
      })
    }).pipe(Effect.provide(GatehouseTest.layer(ReleasePipeline.ReleasePipelineLive))))

  it.effect("publish: a rejection takes the return-to-author branch", () =>
    Effect.gen(function*() {
      const outcome = yield* Publish.scenario
      assert.deepStrictEqual(outcome, [
        { slug: "effect-at-scale", outcome: "published" },
        { slug: "clickbait", outcome: "returned-to-author" }
      ])
    }).pipe(Effect.provide(GatehouseTest.layer(Publish.PublishLive))))

  it.effect("optional review: approved runs the gated scan, denied skips it", () =>
    Effect.gen(function*() {
      const outcome = yield* OptionalReview.scenario
      assert.deepStrictEqual(outcome, [{ vendor: "acme", scan: "no findings" }, { vendor: "globex", scan: "skipped" }])
    }).pipe(Effect.provide(GatehouseTest.layer(OptionalReview.OnboardLive))))

  it.effect("redo: a draft revised twice on request-changes, then approved", () =>
    Effect.gen(function*() {
      const outcome = yield* Redo.scenario
      assert.strictEqual(outcome.revision, 3)
      assert.strictEqual(outcome.reply, "Your refund is on its way (revision 3: sign it from the team).")
      assert.deepStrictEqual(outcome.nodes, [
        "reply#1/produce:completed",
        "reply#1:changes-requested",
        "reply#2/produce:completed",
        "reply#2:changes-requested",
        "reply#3/produce:completed",
        "reply#3:approved"
      ])
    }).pipe(Effect.provide(GatehouseTest.layer(Redo.DraftReplyLive))))

  it.live("client and config: a runner from Config and a client-only layer on a SQLite file", () =>
    Effect.gen(function*() {
      const dir = yield* Effect.acquireRelease(
        Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-example-"))),
        (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
      )
      const outcome = yield* ClientAndConfig.scenario({ url: `sqlite:${path.join(dir, "app.db")}` })
      assert.deepStrictEqual(outcome, { decided: "decided", status: "completed", outcome: { claimId: "C-17", paid: 64 } })
    }).pipe(Effect.scoped))

  it.live.skipIf(!pgAvailable)("client and config: the same on PostgreSQL, in a schema the application names", () =>
    Effect.gen(function*() {
      // A schema of its own, dropped at the end (the layers would create it if it were missing).
      const { schema } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_example" })
      const outcome = yield* ClientAndConfig.scenario({ url: databaseUrl, schema })
      assert.deepStrictEqual(outcome, { decided: "decided", status: "completed", outcome: { claimId: "C-17", paid: 64 } })
    }).pipe(Effect.scoped))
})
