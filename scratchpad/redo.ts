/**
 * Redo: a drafted reply is revised on request-changes until the reviewer approves it. Each revision is
 * its own pair of nodes (`reply#1/produce`, `reply#1`, …). Run it with `npm run example scratchpad/redo.ts`.
 */
import { Approval, Approvals, GatehouseTest, Workflow, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { isMain, runExample } from "./run.js"

export const DraftReply = Workflow.make({
  name: "draft-reply",
  payload: Schema.Struct({ ticketId: Schema.String }),
  success: Schema.Struct({ reply: Schema.String, revision: Schema.Number }),
  idempotencyKey: (payload) => payload.ticketId
})

const draft = (feedback: string | undefined, revision: number) =>
  Effect.succeed(
    revision === 1 ? "Your refund is on its way." : `Your refund is on its way (revision ${revision}: ${feedback}).`
  )

export const DraftReplyLive = DraftReply.toLayer(() =>
  Effect.gen(function*() {
    const { output, revision } = yield* Approval.review("reply", {
      produce: draft,
      request: (reply) => ({ title: "Send this reply?", reviewed: { reply } }),
      maxRevisions: 3
    })
    return { reply: output, revision }
  })
)

/** Changes are requested twice, then the third revision is approved. */
export const scenario = Effect.gen(function*() {
  const approvals = yield* Approvals.Approvals
  const runId = yield* DraftReply.start({ ticketId: "T-2002" })
  for (const note of ["mention the amount", "sign it from the team"]) {
    yield* GatehouseTest.settle
    const current = yield* approvals.get({ runId, nodeId: "reply" })
    yield* approvals.decide({
      runId,
      nodeId: "reply",
      verdict: "request-changes",
      by: "lead",
      note,
      requestHash: current.requestHash
    })
  }
  yield* GatehouseTest.settle
  yield* approvals.decide({ runId, nodeId: "reply", verdict: "approve", by: "lead" })
  const result = yield* DraftReply.execute({ ticketId: "T-2002" })
  const nodes = (yield* (yield* Workflows.Workflows).inspect(runId)).nodes.map((node) => `${node.nodeId}:${node.status}`)
  return { ...result, nodes }
})

if (isMain(import.meta.url)) runExample(DraftReplyLive, scenario)
