import { assert, describe, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Approval, Approvals, Audit, Events, Gatehouse, GatehouseTest, Run, Step, Waiting, Workflow, Workflows } from "@gatehouse/engine"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type { MakeDatabase, TestDatabase } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext, sideEffects, withClient, withEngine } from "./utils/engine.js"
import { makeStore } from "../src/internal/storage/runs.js"
import { snapshot } from "./utils/snapshot.js"

const Refund = Workflow.make({
  name: "refund",
  payload: Schema.Struct({ ticketId: Schema.String, amount: Schema.Number }),
  success: Schema.Struct({ approved: Schema.Boolean, refunded: Schema.Number }),
  idempotencyKey: (payload) => payload.ticketId
})

const RefundLive = Refund.toLayer((payload, run) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("refund-decision", {
      title: `Refund ${payload.amount}?`,
      summary: "Customer is inside the refund window.",
      metadata: { ticketId: payload.ticketId, amount: payload.amount },
      reviewed: { recommendation: "refund", amount: payload.amount },
      decision: Schema.Struct({ approvedAmount: Schema.Number }),
      onDeny: "continue",
      reviewers: { users: ["ana", "bob", "carol"], roles: ["finance"] }
    })
    if (!decision.approved) return { approved: false, refunded: 0 }
    const amount = decision.payload?.approvedAmount ?? 0
    yield* Step.run("pay", sideEffects.record(run.runId, "pay"))
    return { approved: true, refunded: amount }
  })
)

const Release = Workflow.make({
  name: "release",
  payload: Schema.Struct({ version: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.version
})

const ReleaseLive = Release.toLayer((payload, run) =>
  Effect.gen(function*() {
    yield* Step.run("build", sideEffects.record(run.runId, "build"))
    yield* Approval.request("qa", { title: `QA sign-off for ${payload.version}`, reviewers: { users: ["qa"] } })
    yield* Step.run("deploy-staging", sideEffects.record(run.runId, "deploy-staging"))
    yield* Step.run("deploy-production", sideEffects.record(run.runId, "deploy-production"), {
      needsApproval: { title: `Ship ${payload.version} to production?`, reviewers: { users: ["lead"] } }
    })
    return `${payload.version} shipped`
  })
)

const Change = Workflow.make({
  name: "change",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const ChangeLive = Change.toLayer((_, run) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("change-board", {
      title: "Apply the change?",
      onDeny: "continue",
      reviewers: { users: ["a", "b", "c"], quorum: 2 }
    })
    if (decision.approved) yield* Step.run("apply", sideEffects.record(run.runId, "apply"))
    return decision.outcome
  })
)

const Deadline = Workflow.make({
  name: "deadline",
  payload: Schema.Struct({ id: Schema.String, escalate: Schema.Boolean }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const DeadlineLive = Deadline.toLayer((payload) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("sign-off", {
      title: "Sign off?",
      timeout: "7 days",
      onTimeout: payload.escalate ? { escalateTo: { users: ["boss"] }, timeout: "1 day" } : "deny",
      onDeny: "continue",
      reviewers: { users: ["ana"] }
    })
    return `${decision.outcome} by ${decision.decidedBy}`
  })
)

const Inbox = Workflow.make({
  name: "inbox",
  payload: Schema.Struct({ id: Schema.String, reviewer: Schema.String, timeout: Schema.optional(Schema.String) }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const InboxLive = Inbox.toLayer((payload) =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("triage", {
      title: `Triage ${payload.id}`,
      onDeny: "continue",
      ...(payload.timeout !== undefined ? { timeout: payload.timeout as Duration.DurationInput } : {}),
      reviewers: { users: [payload.reviewer], roles: ["ops"] }
    })
    return decision.outcome
  })
)

const Draft = Workflow.make({
  name: "draft",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.Struct({ text: Schema.String, revision: Schema.Number }),
  idempotencyKey: (payload) => payload.id
})

const DraftLive = Draft.toLayer(() =>
  Effect.gen(function*() {
    const reviewed = yield* Approval.review("draft", {
      produce: (feedback, revision) => Effect.succeed(`v${revision}${feedback ? ` after "${feedback}"` : ""}`),
      request: (text) => ({ title: "Publish this draft?", reviewed: { text } }),
      maxRevisions: 3
    })
    return { text: reviewed.output, revision: reviewed.revision }
  })
)

const Optional = Workflow.make({
  name: "optional",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.Boolean,
  idempotencyKey: (payload) => payload.id
})

const OptionalLive = Optional.toLayer((_, run) =>
  Effect.gen(function*() {
    const extra = yield* Approval.gate(
      "extra-review",
      { title: "Run the extra checks?" },
      Step.run("extra", sideEffects.record(run.runId, "extra"))
    )
    yield* Step.run("finish", sideEffects.record(run.runId, "finish"))
    return Option.isSome(extra)
  })
)

// Decides its own approval from inside the suspension: after the request is stored and before the runner
// stores the run as waiting, the worst moment for a decision to arrive.
const Race = Workflow.make({
  name: "race",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const RaceLive = Race.toLayer((_, run) =>
  Effect.gen(function*() {
    const approvals = yield* Approvals.Approvals
    const decision = yield* Approval.request("go", { title: "Go?" }).pipe(
      Effect.onInterrupt(() =>
        approvals.decide({ runId: run.runId, nodeId: "go", verdict: "approve", by: "racer" }).pipe(Effect.orDie)
      )
    )
    return decision.decidedBy
  })
)

// Quorum 2, escalated after a day to two other reviewers with quorum 2.
const Board = Workflow.make({
  name: "board",
  payload: Schema.Struct({ id: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.id
})

const BoardLive = Board.toLayer(() =>
  Effect.gen(function*() {
    const decision = yield* Approval.request("budget", {
      title: "Approve the budget?",
      onDeny: "continue",
      reviewers: { users: ["a", "b", "c"], quorum: 2 },
      timeout: "1 day",
      onTimeout: { escalateTo: { users: ["x", "y"], quorum: 2 }, timeout: "1 day" }
    })
    return `${decision.outcome} by ${decision.decidedBy}`
  })
)

const AllLive = Layer.mergeAll(
  RefundLive,
  ReleaseLive,
  ChangeLive,
  DeadlineLive,
  InboxLive,
  DraftLive,
  OptionalLive,
  RaceLive,
  BoardLive
)

/**
 * The run's events once at least `count` are visible. On PostgreSQL an event is returned only once every
 * transaction older than its own has ended, on the whole (shared, busy) server: wait for that, bounded.
 */
const visibleEvents = (runId: string, count: number) =>
  Effect.gen(function*() {
    const events = yield* Events.Events
    for (let attempt = 0;; attempt++) {
      const read = yield* events.read({ runId })
      if (read.length >= count || attempt >= 500) return read
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
    }
  })

/** The client services only (no runner), on a new connection to the test database. */
const withClientOnly = <A, E, R>(db: TestDatabase, body: Effect.Effect<A, E, R>) =>
  Effect.scoped(
    Effect.flatMap(
      Layer.build(Gatehouse.layerClient.pipe(Layer.provideMerge(db.client()))),
      (context) => Effect.provide(body, context)
    )
  )

const approvalsService = Approvals.Approvals
const workflowsService = Workflows.Workflows

export const suite = (name: string, makeDatabase: MakeDatabase) =>
  describe(name, () => {
    const engine = Effect.gen(function*() {
      const db = yield* makeDatabase
      // One process: in-process signals wake the runner, so polling is off and TestClock can jump days.
      const context = yield* buildEngine(db, AllLive, { pollInterval: Duration.infinity })
      yield* sideEffects.setup.pipe(provideContext(context))
      return { db, context }
    })

    it.scoped("refund: an approval with a payload resumes the run, which continues with the approved amount", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ ticketId: "T-1", amount: 120 }, { startedBy: "desk" })
          yield* GatehouseTest.settle
          const workflows = yield* workflowsService
          assert.strictEqual((yield* workflows.poll(runId)).status, "waiting-approval")
          const approvals = yield* approvalsService
          const inbox = yield* approvals.list({ reviewer: { id: "dave", roles: ["finance"] } })
          assert.strictEqual(inbox.approvals.length, 1)
          const entry = inbox.approvals[0]
          assert.strictEqual(entry.title, "Refund 120?")
          assert.deepStrictEqual(entry.metadata, { ticketId: "T-1", amount: 120 })
          assert.deepStrictEqual(entry.reviewed, { recommendation: "refund", amount: 120 })
          assert.strictEqual(entry.requestHash.length, 64)
          assert.strictEqual((yield* approvals.list({ reviewer: "mallory" })).approvals.length, 0)
          const result = yield* approvals.decide({
            runId,
            nodeId: "refund-decision",
            verdict: "approve",
            by: "ana",
            note: "fine",
            payload: { approvedAmount: 100 },
            requestHash: entry.requestHash
          })
          assert.strictEqual(result.status, "decided")
          assert.deepStrictEqual(yield* Refund.result(runId), Exit.succeed({ approved: true, refunded: 100 }))
          const inspection = yield* workflows.inspect(runId)
          assert.deepStrictEqual(inspection.nodes.map((node) => [node.nodeId, node.status]), [
            ["refund-decision", "approved"],
            ["pay", "completed"]
          ])
          assert.deepInclude(inspection.nodes[0].exit as object, { approved: true, decidedBy: "ana", note: "fine" })
          assert.deepStrictEqual(inspection.events.map((event) => event.type), [
            "run.started",
            "approval.requested",
            "approval.decided",
            "run.completed"
          ])
          const events = (yield* visibleEvents(runId, 4)).map((event) => event.type)
          assert.deepStrictEqual(events, ["run.started", "approval.requested", "approval.decided", "run.completed"])
          const audit = yield* Audit.forRun(runId)
          assert.deepStrictEqual(audit.map((entry) => [entry.action, entry.actor]), [
            ["approval.requested", "workflow:refund"],
            ["approval.decided", "ana"]
          ])
          assert.strictEqual(audit[1].requestHash, entry.requestHash)
          assert.strictEqual(audit[1].note, "fine")
        }).pipe(provideContext(context))
      }))

    it.scoped("list: decided by a reviewer (votes and decisions, any status), and nearest deadline first", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const first = yield* Change.start({ id: "by-1" })
          const second = yield* Change.start({ id: "by-2" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          yield* approvals.decide({ runId: first, nodeId: "change-board", verdict: "approve", by: "a" })
          const ids = (page: Approvals.ApprovalPage) => page.approvals.map((approval) => [approval.runId, approval.status])
          assert.deepStrictEqual(ids(yield* approvals.list({ decidedBy: "a" })), [[first, "waiting-approval"]])
          yield* approvals.decide({ runId: first, nodeId: "change-board", verdict: "approve", by: "b" })
          assert.deepStrictEqual(ids(yield* approvals.list({ decidedBy: "a" })), [[first, "approved"]])
          assert.deepStrictEqual(ids(yield* approvals.list({ decidedBy: "b" })), [[first, "approved"]])
          assert.deepStrictEqual(ids(yield* approvals.list({ decidedBy: "b", status: "waiting-approval" })), [])
          assert.deepStrictEqual(ids(yield* approvals.list({ decidedBy: "c" })), [])
          // In every order, and within a reviewer's inbox (its audit entries then).
          for (const order of ["requested", "newest", "deadline"] as const) {
            assert.deepStrictEqual(ids(yield* approvals.list({ decidedBy: "a", order })), [[first, "approved"]])
          }
          assert.deepStrictEqual(ids(yield* approvals.list({ decidedBy: "a", reviewer: "a" })), [[first, "approved"]])
          assert.deepStrictEqual(ids(yield* approvals.list({ decidedBy: "a", reviewer: "z" })), [])
          const one = yield* approvals.list({ decidedBy: "b", limit: 1 })
          assert.deepStrictEqual(ids(one), [[first, "approved"]])
          assert.deepStrictEqual(ids(yield* approvals.list({ decidedBy: "b", limit: 1, cursor: one.cursor! })), [])
          assert.deepStrictEqual(ids(yield* approvals.list({ status: "any", reviewer: "c" })), [
            [first, "approved"],
            [second, "waiting-approval"]
          ])
          assert.deepStrictEqual(ids(yield* approvals.list({ workflow: "change" })), [[second, "waiting-approval"]])
          const bad = yield* Effect.flip(approvals.list({ decidedBy: "" }))
          assert.include(bad.message, "decidedBy")

          // By deadline: the one requested later but due sooner first; no deadline last; paged by cursor.
          yield* TestClock.adjust("1 hour")
          const later = yield* Deadline.start({ id: "by-3", escalate: false })
          yield* GatehouseTest.settle
          const byDeadline = yield* approvals.list({ order: "deadline", limit: 1 })
          assert.deepStrictEqual(ids(byDeadline), [[later, "waiting-approval"]])
          const next = yield* approvals.list({ order: "deadline", limit: 1, cursor: byDeadline.cursor! })
          assert.deepStrictEqual(ids(next), [[second, "waiting-approval"]])
          assert.deepStrictEqual(ids(yield* approvals.list())[0], [second, "waiting-approval"])
        }).pipe(provideContext(context))
      }))

    it.scoped("Events.latest: a cursor after everything visible, from which only newer events follow", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const events = yield* Events.Events
          const runId = yield* Change.start({ id: "tail-1" })
          yield* GatehouseTest.settle
          const seen = yield* visibleEvents(runId, 2)
          const latest = yield* events.latest
          assert.isDefined(latest)
          assert.deepStrictEqual(yield* events.read({ after: latest! }), [])
          assert.strictEqual(seen[seen.length - 1].cursor, latest)
          yield* (yield* approvalsService).decide({ runId, nodeId: "change-board", verdict: "deny", by: "a" })
          let after: ReadonlyArray<Events.Event> = []
          for (let attempt = 0; attempt < 500 && after.length === 0; attempt++) {
            after = yield* events.read({ after: latest! })
            if (after.length === 0) yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
          }
          assert.strictEqual(after[0].type, "approval.decided")
        }).pipe(provideContext(context))
      }))

    it.scoped("onDeny continue: a denial returns to the workflow, which branches", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ ticketId: "T-2", amount: 50 })
          yield* GatehouseTest.settle
          yield* (yield* approvalsService).decide({ runId, nodeId: "refund-decision", verdict: "deny", by: "bob" })
          assert.deepStrictEqual(yield* Refund.result(runId), Exit.succeed({ approved: false, refunded: 0 }))
          assert.strictEqual(yield* sideEffects.count(runId, "pay"), 0)
        }).pipe(provideContext(context))
      }))

    it.scoped("invariant 4: a denied approval with onDeny fail never lets a step after it run", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Release.start({ version: "1.0.0" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          yield* approvals.decide({ runId, nodeId: "qa", verdict: "deny", by: "qa", note: "flaky login" })
          const exit = yield* Release.result(runId)
          assert.deepStrictEqual(
            exit,
            Exit.fail(new Run.ApprovalDenied({ runId, nodeId: "qa", decidedBy: "qa", note: "flaky login", outcome: "denied" }))
          )
          yield* GatehouseTest.settle
          assert.strictEqual(yield* sideEffects.count(runId, "build"), 1)
          assert.strictEqual(yield* sideEffects.count(runId, "deploy-staging"), 0)
          assert.strictEqual(yield* sideEffects.count(runId, "deploy-production"), 0)
          const run = yield* (yield* workflowsService).poll(runId)
          assert.strictEqual(run.status, "failed")
          assert.include(run.error, "denied by qa")
        }).pipe(provideContext(context))
      }))

    it.scoped("release pipeline: QA gate then a production gate on the step (needsApproval)", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Release.start({ version: "2.0.0" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          yield* approvals.decide({ runId, nodeId: "qa", verdict: "approve", by: "qa" })
          yield* GatehouseTest.settle
          assert.strictEqual(yield* sideEffects.count(runId, "deploy-staging"), 1)
          assert.strictEqual(yield* sideEffects.count(runId, "deploy-production"), 0)
          const pending = yield* approvals.list({ reviewer: "lead" })
          assert.deepStrictEqual(pending.approvals.map((approval) => approval.nodeId), ["deploy-production/approval"])
          const refused = yield* approvals.decide({ runId, nodeId: "deploy-production/approval", verdict: "approve", by: "qa" })
            .pipe(Effect.flip)
          assert.strictEqual(refused._tag, "NotAuthorized")
          yield* approvals.decide({ runId, nodeId: "deploy-production/approval", verdict: "approve", by: "lead" })
          assert.deepStrictEqual(yield* Release.result(runId), Exit.succeed("2.0.0 shipped"))
          assert.strictEqual(yield* sideEffects.count(runId, "deploy-production"), 1)
        }).pipe(provideContext(context))
      }))

    it.scoped("invariant 2 with 50 concurrent decide calls: one decided, the step after the gate runs once", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ ticketId: "T-50", amount: 10 })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const calls = Array.from({ length: 50 }, (_, i) =>
            approvals.decide({
              runId,
              nodeId: "refund-decision",
              verdict: i % 2 === 0 ? "approve" : "deny",
              by: ["ana", "bob", "carol"][i % 3],
              ...(i % 2 === 0 ? { payload: { approvedAmount: 10 } } : {})
            }).pipe(Effect.map((result) => result.status), Effect.catchTag("DecisionConflict", () => Effect.succeed("conflict")))
          )
          const outcomes = yield* Effect.all(calls, { concurrency: "unbounded" })
          assert.strictEqual(outcomes.filter((status) => status === "decided").length, 1)
          assert.isTrue(outcomes.every((status) => status === "decided" || status === "already-decided" || status === "conflict"))
          const exit = yield* Refund.result(runId)
          assert.isTrue(Exit.isSuccess(exit))
          // Repeats after the fact change nothing either.
          yield* Effect.all(calls.slice(0, 5))
          yield* GatehouseTest.settle
          const approved = Exit.isSuccess(exit) && exit.value.approved
          assert.strictEqual(yield* sideEffects.count(runId, "pay"), approved ? 1 : 0)
          const decided = (yield* visibleEvents(runId, 4)).filter((event) => event.type === "approval.decided")
          assert.strictEqual(decided.length, 1)
        }).pipe(provideContext(context))
      }))

    it.scoped("invariant 3: a run paused on an approval survives the death of every process", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const runId = yield* withEngine(db, AllLive, Effect.gen(function*() {
          yield* sideEffects.setup
          const runId = yield* Refund.start({ ticketId: "T-crash", amount: 30 })
          yield* GatehouseTest.settle
          return runId
        }))
        // Every engine is gone. A reviewer decides from a process that only has the client.
        yield* withClient(db, Effect.gen(function*() {
          const result = yield* (yield* approvalsService).decide({
            runId,
            nodeId: "refund-decision",
            verdict: "approve",
            by: "carol",
            payload: { approvedAmount: 30 }
          })
          assert.strictEqual(result.status, "decided")
        }).pipe(Effect.provide(Layer.mergeAll(Approvals.layer))))
        const exit = yield* withEngine(db, AllLive, Refund.result(runId))
        assert.deepStrictEqual(exit, Exit.succeed({ approved: true, refunded: 30 }))
      }))

    it.scoped("a decision arriving while the run is being suspended is never lost", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Race.start({ id: "r-1" })
          assert.deepStrictEqual(yield* Race.result(runId), Exit.succeed("racer"))
        }).pipe(provideContext(context))
      }))

    it.scoped("quorum 2 of 3: the first vote is recorded, the second decides", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Change.start({ id: "c-1" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const first = yield* approvals.decide({ runId, nodeId: "change-board", verdict: "approve", by: "a" })
          assert.strictEqual(first.status, "vote-recorded")
          const again = yield* approvals.decide({ runId, nodeId: "change-board", verdict: "approve", by: "a" })
          assert.strictEqual(again.status, "vote-recorded")
          yield* GatehouseTest.settle
          assert.strictEqual((yield* (yield* workflowsService).poll(runId)).status, "waiting-approval")
          const second = yield* approvals.decide({ runId, nodeId: "change-board", verdict: "approve", by: "b" })
          assert.strictEqual(second.status, "decided")
          assert.strictEqual(second.approval.votes?.length, 2)
          assert.deepStrictEqual(yield* Change.result(runId), Exit.succeed("approved"))
          assert.strictEqual(yield* sideEffects.count(runId, "apply"), 1)
        }).pipe(provideContext(context))
      }))

    it.scoped("a repeated vote answers repeated (nothing changed); the same verdict with another note is a repeat, not voted-otherwise", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Change.start({ id: "c-repeat-note" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const address = { runId, nodeId: "change-board" }
          const first = yield* approvals.decide({ ...address, verdict: "approve", by: "a", note: "looks fine" })
          assert.strictEqual(first.status, "vote-recorded")
          assert.isUndefined(first.repeated)
          const audited = (yield* Audit.forRun(runId)).length
          const again = yield* approvals.decide({ ...address, verdict: "approve", by: "a", note: "looks fine" })
          assert.strictEqual(again.status, "vote-recorded")
          assert.strictEqual(again.repeated, true)
          // Another note on the same verdict: a repeat too; the first vote (and its note) stands.
          const reworded = yield* approvals.decide({ ...address, verdict: "approve", by: "a", note: "LGTM, really" })
          assert.strictEqual(reworded.status, "vote-recorded")
          assert.strictEqual(reworded.repeated, true)
          assert.deepStrictEqual(reworded.approval.votes?.map((vote) => [vote.voter, vote.note]), [["a", "looks fine"]])
          assert.strictEqual((yield* Audit.forRun(runId)).length, audited)
          // Another verdict is still a different vote.
          const flipped = yield* approvals.decide({ ...address, verdict: "deny", by: "a" }).pipe(Effect.flip)
          assert.strictEqual(flipped._tag, "DecisionConflict")
          assert.strictEqual((flipped as Approvals.DecisionConflict).reason, "voted-otherwise")
          const second = yield* approvals.decide({ ...address, verdict: "approve", by: "b" })
          assert.strictEqual(second.status, "decided")
          assert.isUndefined(second.repeated)
        }).pipe(provideContext(context))
      }))

    it.scoped("self-approval is refused; a reviewer outside the users and roles is refused", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ ticketId: "T-self", amount: 5 }, { startedBy: "ana" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const before = yield* snapshot
          const self = yield* approvals.decide({
            runId,
            nodeId: "refund-decision",
            verdict: "approve",
            by: "ana",
            payload: { approvedAmount: 5 }
          }).pipe(Effect.flip)
          assert.strictEqual(self._tag, "NotAuthorized")
          assert.include(self.message, "cannot approve")
          const outsider = yield* approvals.decide({ runId, nodeId: "refund-decision", verdict: "deny", by: "mallory" })
            .pipe(Effect.flip)
          assert.strictEqual(outsider._tag, "NotAuthorized")
          const wrongRole = yield* approvals.decide({
            runId,
            nodeId: "refund-decision",
            verdict: "deny",
            by: { id: "mallory", roles: ["support"] }
          }).pipe(Effect.flip)
          assert.strictEqual(wrongRole._tag, "NotAuthorized")
          assert.deepStrictEqual(yield* snapshot, before)
          const byRole = yield* approvals.decide({
            runId,
            nodeId: "refund-decision",
            verdict: "approve",
            by: { id: "dave", roles: ["finance"] },
            payload: { approvedAmount: 5 }
          })
          assert.strictEqual(byRole.status, "decided")
        }).pipe(provideContext(context))
      }))

    it.scoped("invariant 5: bad input on every decide field gets a typed error and changes nothing", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ ticketId: "T-bad", amount: 70 })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const good = { runId, nodeId: "refund-decision", verdict: "approve", by: "bob", payload: { approvedAmount: 70 } } as const
          const before = yield* snapshot
          const cases: ReadonlyArray<readonly [string, unknown]> = [
            ["ApprovalNotFound", { ...good, runId: "no-such-run" }],
            ["ApprovalNotFound", { ...good, nodeId: "no-such-node" }],
            ["InvalidDecision", { ...good, runId: "" }],
            ["InvalidDecision", { ...good, nodeId: 42 }],
            ["InvalidDecision", { ...good, verdict: "maybe" }],
            ["InvalidDecision", { ...good, verdict: "request-changes", note: "redo" }],
            ["InvalidDecision", { ...good, by: "" }],
            ["InvalidDecision", { ...good, by: { id: "bob", roles: "finance" } }],
            ["InvalidDecision", { ...good, note: "x".repeat(Approvals.limits.noteLength + 1) }],
            ["InvalidDecision", { ...good, payload: { approvedAmount: "lots" } }],
            ["InvalidDecision", { ...good, payload: { approvedAmount: 1, extra: "x".repeat(Approvals.limits.payloadBytes) } }],
            ["InvalidDecision", { ...good, payload: undefined }],
            ["InvalidDecision", { ...good, verdict: "deny", payload: { approvedAmount: 1 } }],
            ["InvalidDecision", { ...good, unexpected: true }],
            ["StaleApproval", { ...good, requestHash: "0".repeat(64) }],
            ["NotAuthorized", { ...good, by: "mallory" }]
          ]
          for (const [expected, input] of cases) {
            const error = yield* approvals.decide(input as any).pipe(Effect.flip)
            assert.strictEqual(error._tag, expected, JSON.stringify(input).slice(0, 200))
          }
          assert.deepStrictEqual(yield* snapshot, before)
          assert.strictEqual((yield* approvals.decide(good)).status, "decided")
        }).pipe(provideContext(context))
      }))

    it.scoped("a seven-day timeout counts as a denial, driven by TestClock", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Deadline.start({ id: "d-1", escalate: false })
          yield* GatehouseTest.settle
          yield* TestClock.adjust("6 days")
          yield* GatehouseTest.settle
          assert.strictEqual((yield* (yield* workflowsService).poll(runId)).status, "waiting-approval")
          yield* TestClock.adjust("1 day")
          assert.deepStrictEqual(yield* Deadline.result(runId), Exit.succeed("timed-out by system"))
          const late = yield* (yield* approvalsService).decide({ runId, nodeId: "sign-off", verdict: "approve", by: "ana" })
            .pipe(Effect.flip)
          assert.strictEqual(late._tag, "DecisionConflict")
        }).pipe(provideContext(context))
      }))

    it.scoped("a seven-day timeout escalates to other reviewers with a new deadline, then is decided", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Deadline.start({ id: "d-2", escalate: true })
          yield* GatehouseTest.settle
          yield* TestClock.adjust("7 days")
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const escalated = yield* approvals.get({ runId, nodeId: "sign-off" })
          assert.deepStrictEqual(escalated.reviewers.users, ["boss"])
          assert.strictEqual(escalated.escalations, 1)
          assert.strictEqual(escalated.status, "waiting-approval")
          assert.strictEqual((yield* approvals.list({ reviewer: "boss" })).approvals.length, 1)
          assert.strictEqual((yield* approvals.list({ reviewer: "ana" })).approvals.length, 0)
          // The reviewer's inbox by deadline is ordered by the new deadline (copied to the assignees).
          const sql = yield* SqlClient.SqlClient
          const assigned = yield* sql<{ deadline: number | string }>`SELECT deadline FROM gatehouse_approval_assignees
            WHERE run_id = ${runId}`
          assert.deepStrictEqual(assigned.map((row) => Number(row.deadline)), [escalated.deadline])
          const byDeadline = yield* approvals.list({ reviewer: "boss", order: "deadline", limit: 1 })
          assert.deepStrictEqual(byDeadline.approvals.map((approval) => approval.deadline), [escalated.deadline])
          assert.strictEqual((yield* approvals.list({ reviewer: "boss", order: "deadline", cursor: byDeadline.cursor! })).approvals.length, 0)
          const former = yield* approvals.decide({ runId, nodeId: "sign-off", verdict: "approve", by: "ana" }).pipe(Effect.flip)
          assert.strictEqual(former._tag, "NotAuthorized")
          yield* approvals.decide({ runId, nodeId: "sign-off", verdict: "approve", by: "boss" })
          assert.deepStrictEqual(yield* Deadline.result(runId), Exit.succeed("approved by boss"))
          const types = (yield* visibleEvents(runId, 5)).map((event) => event.type)
          assert.include(types, "approval.escalated")
        }).pipe(provideContext(context))
      }))

    it.scoped("an escalated approval left undecided times out at its second deadline", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Deadline.start({ id: "d-3", escalate: true })
          yield* GatehouseTest.settle
          yield* TestClock.adjust("7 days")
          yield* GatehouseTest.settle
          yield* TestClock.adjust("1 day")
          assert.deepStrictEqual(yield* Deadline.result(runId), Exit.succeed("timed-out by system"))
        }).pipe(provideContext(context))
      }))

    it.scoped("request changes: a draft revised twice, then approved; stale decisions are refused", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Draft.start({ id: "doc-1" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const first = yield* approvals.get({ runId, nodeId: "draft" })
          assert.strictEqual(first.nodeId, "draft#1")
          assert.deepStrictEqual(first.reviewed, { text: "v1" })
          yield* approvals.decide({
            runId,
            nodeId: "draft",
            verdict: "request-changes",
            by: "editor",
            note: "shorter",
            requestHash: first.requestHash
          })
          yield* GatehouseTest.settle
          const second = yield* approvals.get({ runId, nodeId: "draft" })
          assert.strictEqual(second.nodeId, "draft#2")
          assert.deepStrictEqual(second.reviewed, { text: "v2 after \"shorter\"" })
          const stale = yield* approvals.decide({
            runId,
            nodeId: "draft",
            verdict: "approve",
            by: "editor",
            requestHash: first.requestHash
          }).pipe(Effect.flip)
          assert.strictEqual(stale._tag, "StaleApproval")
          yield* approvals.decide({ runId, nodeId: "draft", verdict: "request-changes", by: "editor", note: "warmer" })
          yield* GatehouseTest.settle
          const third = yield* approvals.get({ runId, nodeId: "draft" })
          assert.strictEqual(third.revision, 3)
          assert.isFalse(third.acceptsRequestChanges)
          const exhausted = yield* approvals.decide({ runId, nodeId: "draft", verdict: "request-changes", by: "editor", note: "again" })
            .pipe(Effect.flip)
          assert.strictEqual(exhausted._tag, "InvalidDecision")
          assert.include(exhausted.message, "last of 3 revisions")
          yield* approvals.decide({ runId, nodeId: "draft", verdict: "approve", by: "editor", requestHash: third.requestHash })
          assert.deepStrictEqual(yield* Draft.result(runId), Exit.succeed({ text: "v3 after \"warmer\"", revision: 3 }))
          const nodes = (yield* (yield* workflowsService).inspect(runId)).nodes.map((node) => [node.nodeId, node.status])
          assert.deepStrictEqual(nodes, [
            ["draft#1/produce", "completed"],
            ["draft#1", "changes-requested"],
            ["draft#2/produce", "completed"],
            ["draft#2", "changes-requested"],
            ["draft#3/produce", "completed"],
            ["draft#3", "approved"]
          ])
        }).pipe(provideContext(context))
      }))

    it.scoped("onDeny skip: a gate approved runs the protected part, denied skips it and the run goes on", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const approvals = yield* approvalsService
          const yes = yield* Optional.start({ id: "o-yes" })
          const no = yield* Optional.start({ id: "o-no" })
          yield* GatehouseTest.settle
          yield* approvals.decide({ runId: yes, nodeId: "extra-review", verdict: "approve", by: "x" })
          yield* approvals.decide({ runId: no, nodeId: "extra-review", verdict: "deny", by: "x" })
          assert.deepStrictEqual(yield* Optional.result(yes), Exit.succeed(true))
          assert.deepStrictEqual(yield* Optional.result(no), Exit.succeed(false))
          assert.strictEqual(yield* sideEffects.count(yes, "extra"), 1)
          assert.strictEqual(yield* sideEffects.count(no, "extra"), 0)
          assert.strictEqual(yield* sideEffects.count(no, "finish"), 1)
        }).pipe(provideContext(context))
      }))

    it.scoped("cancel marks a waiting approval canceled and a later decision conflicts", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ ticketId: "T-cancel", amount: 1 })
          yield* GatehouseTest.settle
          yield* (yield* workflowsService).cancel(runId, { by: "ops", reason: "duplicate ticket" })
          const approvals = yield* approvalsService
          assert.strictEqual((yield* approvals.get({ runId, nodeId: "refund-decision" })).status, "canceled")
          const late = yield* approvals.decide({ runId, nodeId: "refund-decision", verdict: "deny", by: "ana" }).pipe(Effect.flip)
          assert.strictEqual(late._tag, "DecisionConflict")
          const audit = yield* Audit.forRun(runId)
          assert.deepStrictEqual(audit.map((entry) => entry.action), ["approval.requested", "run.canceled", "approval.canceled"])
        }).pipe(provideContext(context))
      }))

    it.scoped("invariant 6: the audit chain verifies, and an edited or deleted entry is detected", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const approvals = yield* approvalsService
          for (const ticketId of ["A-1", "A-2", "A-3"]) {
            const runId = yield* Refund.start({ ticketId, amount: 1 })
            yield* GatehouseTest.settle
            // Quotes, escapes, astral characters and a newline: the database hashes the same bytes as `verify`.
            const note = ticketId === "A-2" ? "nein \u2014 \"no\" \\ \u2713 \ud834\udd1e \u00dcn\u00efc\u00f8d\u00e9\nline 2" : "no"
            yield* approvals.decide({ runId, nodeId: "refund-decision", verdict: "deny", by: "bob", note })
          }
          const ok = yield* Audit.verify
          assert.deepStrictEqual(ok, { valid: true, entries: 6 })
          const sql = (yield* SqlClient.SqlClient).withoutTransforms()
          const entries = yield* sql<{ seq: number }>`SELECT seq FROM gatehouse_audit ORDER BY seq`
          const third = Number(entries[2].seq)
          yield* sql`UPDATE gatehouse_audit SET note = 'yes' WHERE seq = ${third}`
          const edited = yield* Audit.verify
          assert.deepStrictEqual(edited, { valid: false, entries: 3, brokenAt: third, reason: "edited" })
          yield* sql`UPDATE gatehouse_audit SET note = NULL WHERE seq = ${third}`
          const restored = yield* Audit.verify
          assert.isTrue(restored.valid, JSON.stringify(restored))
          yield* sql`DELETE FROM gatehouse_audit WHERE seq = ${third}`
          const deleted = yield* Audit.verify
          assert.deepStrictEqual(deleted, {
            valid: false,
            entries: 3,
            brokenAt: Number(entries[3].seq),
            reason: "missing-or-reordered"
          })
        }).pipe(provideContext(context))
      }))

    it.scoped("list: every order pages through every approval exactly once and in order, ties on the key included", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          // Three request times a minute apart, four approvals at each (ties on the request time); deadlines
          // 10 or 11 minutes out or none, so approvals requested a minute apart share a deadline too.
          const timeouts = [undefined, "10 minutes", "11 minutes", "10 minutes"]
          for (let t = 0; t < 3; t++) {
            for (let i = 0; i < timeouts.length; i++) {
              const timeout = timeouts[i]
              yield* Inbox.start({
                id: `order-${t}-${i}`,
                reviewer: i % 2 === 0 ? "even" : "odd",
                ...(timeout !== undefined ? { timeout } : {})
              })
            }
            yield* GatehouseTest.settle
            yield* TestClock.adjust("1 minute")
          }
          yield* Change.start({ id: "order-change" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const keyOf = (order: Approvals.ListOrder, approval: Approvals.ApprovalRecord) =>
            order === "deadline" ? approval.deadline ?? Number.MAX_SAFE_INTEGER : approval.requestedAt
          const compare = (order: Approvals.ListOrder) => (a: Approvals.ApprovalRecord, b: Approvals.ApprovalRecord) => {
            const ascending = keyOf(order, a) - keyOf(order, b) ||
              (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0) ||
              (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0)
            return order === "newest" ? -ascending : ascending
          }
          const ids = (records: ReadonlyArray<Approvals.ApprovalRecord>) => records.map((a) => `${a.runId}/${a.nodeId}`)
          const pageThrough = (options: Approvals.ListOptions, limit: number) =>
            Effect.gen(function*() {
              const seen: Array<Approvals.ApprovalRecord> = []
              let cursor: string | undefined = undefined
              for (let pages = 0; pages < 100; pages++) {
                const page: Approvals.ApprovalPage = yield* approvals.list({ ...options, limit, ...(cursor ? { cursor } : {}) })
                seen.push(...page.approvals)
                if (page.cursor === undefined) return seen
                cursor = page.cursor
              }
              return assert.fail("the cursor never ended")
            })
          const filters: ReadonlyArray<readonly [Approvals.ListOptions, number]> = [
            [{}, 13],
            [{ reviewer: "even" }, 6],
            // Assigned to both of the reviewer's principals: listed once.
            [{ reviewer: { id: "odd", roles: ["ops"] } }, 12],
            [{ workflow: "inbox" }, 12],
            [{ workflow: "inbox", reviewer: "odd" }, 6]
          ]
          for (const order of ["requested", "newest", "deadline"] as const) {
            for (const [filter, count] of filters) {
              const all = (yield* approvals.list({ ...filter, order, limit: 500 })).approvals
              assert.strictEqual(all.length, count, `${order} ${JSON.stringify(filter)}`)
              assert.deepStrictEqual(ids(all), ids([...all].sort(compare(order))), `${order} ${JSON.stringify(filter)}`)
              for (const limit of [1, 2, 5]) {
                const paged = yield* pageThrough({ ...filter, order }, limit)
                assert.deepStrictEqual(ids(paged), ids(all), `${order} ${JSON.stringify(filter)} by ${limit}`)
              }
            }
          }
          // The same request time (and the same deadline) on several approvals: ties the cursor gets past.
          const requested = (yield* approvals.list({ workflow: "inbox", limit: 500 })).approvals
          assert.strictEqual(new Set(requested.map((a) => a.requestedAt)).size, 3)
          const deadlines = requested.flatMap((a) => a.deadline === undefined ? [] : [a.deadline])
          assert.isBelow(new Set(deadlines).size, deadlines.length - 3)
          // Newest first: the last request time first.
          const newest = yield* approvals.list({ workflow: "inbox", order: "newest", limit: 4 })
          assert.deepStrictEqual(newest.approvals.map((a) => a.requestedAt), Array(4).fill(requested[11].requestedAt))
          // A cursor this API did not return, an order it does not know: refused, naming the field.
          const bad = yield* approvals.list({ order: "newest", cursor: "not-a-cursor" }).pipe(Effect.flip)
          assert.strictEqual(bad._tag, "InvalidCursor")
          assert.include(bad.message, "cursor")
          assert.strictEqual((bad as Approvals.InvalidCursor).cursor, "not-a-cursor")
          const unknown = yield* approvals.list({ order: "oldest" as Approvals.ListOrder }).pipe(Effect.flip)
          assert.include(unknown.message, "order")
        }).pipe(provideContext(context))
      }))

    it.scoped("the inbox pages with a cursor and filters by workflow and status", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          for (let i = 0; i < 5; i++) {
            yield* Refund.start({ ticketId: `P-${i}`, amount: i })
            yield* GatehouseTest.settle
            yield* TestClock.adjust("1 minute")
          }
          yield* Change.start({ id: "p-change" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const first = yield* approvals.list({ workflow: "refund", limit: 2 })
          const second = yield* approvals.list({ workflow: "refund", limit: 2, cursor: first.cursor! })
          const third = yield* approvals.list({ workflow: "refund", limit: 2, cursor: second.cursor! })
          const amounts = [...first.approvals, ...second.approvals, ...third.approvals].map((a) => (a.metadata as any).amount)
          assert.deepStrictEqual(amounts, [0, 1, 2, 3, 4])
          assert.strictEqual((yield* approvals.list()).approvals.length, 6)
          assert.strictEqual((yield* approvals.list({ status: "approved" })).approvals.length, 0)
          const bad = yield* approvals.list({ limit: 9999 }).pipe(Effect.flip)
          assert.strictEqual(bad._tag, "InvalidDecision")
        }).pipe(provideContext(context))
      }))

    it.scoped("events are read in order from a consumer's cursor, resumably", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const events = yield* Events.Events
          const start = yield* events.read({ limit: 1000 })
          const cursor = start.length > 0 ? start[start.length - 1].cursor : undefined
          const runId = yield* Refund.start({ ticketId: "E-1", amount: 3 })
          yield* GatehouseTest.settle
          yield* (yield* approvalsService).decide({ runId, nodeId: "refund-decision", verdict: "deny", by: "bob" })
          yield* Refund.result(runId)
          yield* visibleEvents(runId, 4)
          // A consumer reading two at a time from its cursor sees every event once, in order.
          const seen: Array<string> = []
          let after = cursor
          while (true) {
            const page = yield* events.read({ after, limit: 2 })
            if (page.length === 0) break
            seen.push(...page.map((event) => event.type))
            after = page[page.length - 1].cursor
          }
          assert.deepStrictEqual(seen, ["run.started", "approval.requested", "approval.decided", "run.completed"])
          const bad = yield* events.read({ after: "not-a-cursor" }).pipe(Effect.flip)
          assert.strictEqual(bad._tag, "InvalidCursor")
        }).pipe(provideContext(context))
      }))

    it.scoped("approval metrics count requests, decisions by verdict, repeats and stale decisions", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const { metrics } = Approvals
          const count = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (state) => state.count)
          const before = {
            requested: yield* count(metrics.requested),
            approved: yield* count(Metric.tagged(metrics.decided, "verdict", "approve")),
            already: yield* count(metrics.alreadyDecided),
            stale: yield* count(metrics.stale)
          }
          const runId = yield* Refund.start({ ticketId: "M-1", amount: 9 })
          yield* GatehouseTest.settle
          // The pending gauge is counted when the metrics are read, not kept on the hot path.
          const pending = (yield* workflowsService).refreshMetrics.pipe(
            Effect.zipRight(Metric.value(metrics.pending)),
            Effect.map((state) => state.value)
          )
          assert.strictEqual(yield* pending, 1)
          const approvals = yield* approvalsService
          const decide = approvals.decide({
            runId,
            nodeId: "refund-decision",
            verdict: "approve",
            by: "ana",
            payload: { approvedAmount: 9 }
          })
          yield* approvals.decide({
            runId,
            nodeId: "refund-decision",
            verdict: "approve",
            by: "ana",
            payload: { approvedAmount: 9 },
            requestHash: "f".repeat(64)
          }).pipe(Effect.flip)
          yield* decide
          yield* decide
          assert.deepStrictEqual({
            requested: (yield* count(metrics.requested)) - before.requested,
            approved: (yield* count(Metric.tagged(metrics.decided, "verdict", "approve"))) - before.approved,
            already: (yield* count(metrics.alreadyDecided)) - before.already,
            stale: (yield* count(metrics.stale)) - before.stale
          }, { requested: 1, approved: 1, already: 1, stale: 1 })
          assert.strictEqual(yield* pending, 0)
          const wait = yield* Metric.value(metrics.decisionWait)
          assert.isAtLeast(wait.count, 1)
        }).pipe(provideContext(context))
      }))
    it.scoped("a decision after the deadline is refused although no runner fired the timer; the deadline wins", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const runId = yield* withEngine(
          db,
          AllLive,
          Effect.zipLeft(Deadline.start({ id: "late-1", escalate: false }), GatehouseTest.settle),
          { pollInterval: Duration.infinity }
        )
        // No runner from here on: the deadline is due and nobody fires it.
        yield* TestClock.adjust("7 days")
        yield* withClientOnly(
          db,
          Effect.gen(function*() {
            const approvals = yield* approvalsService
            const before = yield* snapshot
            const late = yield* approvals.decide({ runId, nodeId: "sign-off", verdict: "approve", by: "ana" })
              .pipe(Effect.flip)
            assert.strictEqual(late._tag, "DecisionConflict")
            assert.strictEqual(late._tag === "DecisionConflict" && late.status, "timed-out")
            assert.strictEqual(late._tag === "DecisionConflict" && late.reason, "deadline-passed")
            assert.deepStrictEqual(yield* snapshot, before)
            const actions = yield* approvals.canDecide({ runId, nodeId: "sign-off" }, "ana")
            assert.deepStrictEqual(actions.approve, { allowed: false, reason: "the deadline has passed" })
          })
        )
        // A runner fires the deadline: its outcome is the one recorded.
        const exit = yield* withEngine(db, AllLive, Deadline.result(runId), { pollInterval: Duration.infinity })
        assert.deepStrictEqual(exit, Exit.succeed("timed-out by system"))
      }))

    it.scoped("a run that ends, completed or failed, closes its open approvals with an event and an audit entry", () =>
      Effect.gen(function*() {
        const db = yield* makeDatabase
        const [completed, failed] = yield* withEngine(
          db,
          AllLive,
          Effect.zipLeft(
            Effect.all([Refund.start({ ticketId: "T-end-1", amount: 1 }), Refund.start({ ticketId: "T-end-2", amount: 2 })]),
            GatehouseTest.settle
          ),
          { pollInterval: Duration.infinity }
        )
        yield* withClientOnly(
          db,
          Effect.gen(function*() {
            // A runner ends each run while its approval still waits (an approval that lost a race, a fatal error).
            const store = makeStore(yield* SqlClient.SqlClient)
            for (const [runId, status] of [[completed, "completed"], [failed, "failed"]] as const) {
              yield* store.wake(runId, 1)
              const claimed = yield* store.claim({
                owner: "test-runner",
                names: ["refund"],
                now: 1,
                leaseMillis: 60_000,
                limit: 10,
                executing: []
              })
              assert.include(claimed.map((claim) => claim.id), runId)
              assert.isTrue(Option.isSome(
                yield* store.finishRun({ runId, owner: "test-runner", status, result: null, error: undefined, now: 2 })
              ))
            }
            const approvals = yield* approvalsService
            for (const runId of [completed, failed]) {
              const approval = yield* approvals.get({ runId, nodeId: "refund-decision" })
              assert.strictEqual(approval.status, "canceled")
              assert.strictEqual((yield* approvals.list({ reviewer: "ana" })).approvals.filter((a) => a.runId === runId).length, 0)
              const inspection = yield* (yield* workflowsService).inspect(runId)
              assert.deepStrictEqual(inspection.nodes.map((node) => node.status), ["canceled"])
              assert.include(inspection.events.map((event) => event.type), "approval.canceled")
              const audit = yield* Audit.forRun(runId)
              assert.deepStrictEqual(audit.map((entry) => entry.action), ["approval.requested", "approval.canceled"])
              const late = yield* approvals.decide({
                runId,
                nodeId: "refund-decision",
                verdict: "approve",
                by: "ana",
                payload: { approvedAmount: 1 }
              }).pipe(Effect.flip)
              assert.strictEqual(late._tag, "DecisionConflict")
            }
            assert.isTrue((yield* Audit.verify).valid)
          })
        )
      }))

    it.scoped("votes cast before an escalation do not count toward the new reviewers' quorum", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Board.start({ id: "b-1" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const address = { runId, nodeId: "budget" }
          assert.strictEqual((yield* approvals.decide({ ...address, verdict: "approve", by: "a" })).status, "vote-recorded")
          yield* TestClock.adjust("1 day")
          yield* GatehouseTest.settle
          const escalated = yield* approvals.get(address)
          assert.strictEqual(escalated.escalations, 1)
          assert.deepStrictEqual(escalated.reviewers.users, ["x", "y"])
          // x alone is one vote of the new round, not two.
          const x = yield* approvals.decide({ ...address, verdict: "approve", by: "x" })
          assert.strictEqual(x.status, "vote-recorded")
          yield* GatehouseTest.settle
          assert.strictEqual((yield* (yield* workflowsService).poll(runId)).status, "waiting-approval")
          const former = yield* approvals.decide({ ...address, verdict: "approve", by: "a" }).pipe(Effect.flip)
          assert.strictEqual(former._tag, "NotAuthorized")
          const y = yield* approvals.decide({ ...address, verdict: "approve", by: "y" })
          assert.strictEqual(y.status, "decided")
          assert.deepStrictEqual(y.approval.votes?.map((vote) => [vote.voter, vote.round]), [["a", 0], ["x", 1], ["y", 1]])
          assert.deepStrictEqual(yield* Board.result(runId), Exit.succeed("approved by y"))
          // x repeating the vote that helped decide is a repeat; a different one is a conflict.
          assert.strictEqual((yield* approvals.decide({ ...address, verdict: "approve", by: "x" })).status, "already-decided")
          const otherwise = yield* approvals.decide({ ...address, verdict: "deny", by: "x" }).pipe(Effect.flip)
          assert.strictEqual(otherwise._tag, "DecisionConflict")
        }).pipe(provideContext(context))
      }))

    it.scoped("Waiting.explain: who may still sign, the tally, the deadline and the escalation ahead", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Board.start({ id: "b-why" })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const address = { runId, nodeId: "budget" }
          yield* approvals.decide({ ...address, verdict: "approve", by: "a" })
          const first = yield* Waiting.explain(runId)
          assert.strictEqual(first.run.status, "waiting-approval")
          assert.strictEqual(first.blockers.length, 1)
          const wait = first.blockers[0]
          assert(wait._tag === "ApprovalWait")
          assert.deepStrictEqual(wait.mayStillSign, { users: ["b", "c"], roles: [] })
          assert.deepStrictEqual(wait.approvals, { have: 1, need: 2 })
          assert.strictEqual(wait.atDeadline, "escalate")
          assert.deepStrictEqual(wait.escalateTo, { users: ["x", "y"], roles: [] })
          assert.strictEqual(wait.deadline, first.now + 24 * 60 * 60 * 1000)

          yield* TestClock.adjust("1 day")
          yield* GatehouseTest.settle
          const escalated = (yield* Waiting.explain(runId)).blockers[0]
          assert(escalated._tag === "ApprovalWait")
          assert.deepStrictEqual(escalated.mayStillSign.users, ["x", "y"])
          assert.deepStrictEqual(escalated.approvals, { have: 0, need: 2 })
          assert.strictEqual(escalated.atDeadline, "deny")
          assert.strictEqual(escalated.escalateTo, undefined)

          yield* approvals.decide({ ...address, verdict: "deny", by: "x" })
          yield* Board.result(runId)
          const ended = yield* Waiting.explain(runId)
          assert.deepStrictEqual(ended.blockers.map((blocker) => blocker._tag), ["Ended"])
          const missing = yield* Waiting.explain("no-such-run").pipe(Effect.flip)
          assert.strictEqual(missing._tag, "RunNotFound")
        }).pipe(provideContext(context))
      }))

    it.scoped("only an exact repeat of a decision by the same reviewer is already-decided; the rest conflicts", () =>
      Effect.gen(function*() {
        const { context } = yield* engine
        yield* Effect.gen(function*() {
          const runId = yield* Refund.start({ ticketId: "T-repeat", amount: 10 })
          yield* GatehouseTest.settle
          const approvals = yield* approvalsService
          const address = { runId, nodeId: "refund-decision" }
          const before = yield* approvals.canDecide(address, "ana")
          assert.deepStrictEqual(before.approve, { allowed: true, effect: "decides" })
          assert.strictEqual(before["request-changes"].allowed, false)
          const decision = {
            ...address,
            verdict: "approve",
            by: "ana",
            note: "ok",
            payload: { approvedAmount: 10 }
          } as const
          assert.strictEqual((yield* approvals.decide(decision)).status, "decided")
          yield* GatehouseTest.settle
          const after = yield* snapshot
          assert.strictEqual((yield* approvals.decide(decision)).status, "already-decided")
          assert.strictEqual((yield* approvals.decide({ ...decision, by: { id: "ana", roles: ["finance"] } })).status, "already-decided")
          const conflicting: ReadonlyArray<Approvals.DecideInput> = [
            { ...decision, payload: { approvedAmount: 20 } },
            { ...decision, note: "changed my mind" },
            { ...decision, note: undefined },
            { ...decision, by: "bob" },
            { ...address, verdict: "deny", by: "ana", note: "ok" }
          ]
          for (const input of conflicting) {
            const error = yield* approvals.decide(input).pipe(Effect.flip)
            assert.strictEqual(error._tag, "DecisionConflict", JSON.stringify(input))
          }
          // Validated first: a malformed repeat is invalid, whatever was decided.
          const invalid = yield* approvals.decide({ ...decision, payload: { approvedAmount: "ten" } }).pipe(Effect.flip)
          assert.strictEqual(invalid._tag, "InvalidDecision")
          assert.deepStrictEqual(yield* snapshot, after)
          const actions = yield* approvals.canDecide(address, "ana")
          assert.deepStrictEqual(actions.deny, { allowed: false, reason: "the approval is already approved" })

          // Under a quorum, a reviewer votes once: the same verdict again is a repeat (whatever its note),
          // another verdict a conflict.
          const change = yield* Change.start({ id: "c-repeat" })
          yield* GatehouseTest.settle
          const vote = { runId: change, nodeId: "change-board", verdict: "approve", by: "a" } as const
          assert.strictEqual((yield* approvals.decide(vote)).status, "vote-recorded")
          assert.strictEqual((yield* approvals.decide(vote)).repeated, true)
          assert.strictEqual((yield* approvals.decide({ ...vote, note: "sure" })).repeated, true)
          const error = yield* approvals.decide({ ...vote, verdict: "deny" }).pipe(Effect.flip)
          assert.strictEqual(error._tag, "DecisionConflict")
        }).pipe(provideContext(context))
      }))
  })
