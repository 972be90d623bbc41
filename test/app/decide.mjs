// Process 2: a client only (no runner), which approves the refund waiting in the reviewer's inbox.
import { Approvals, Gatehouse } from "@gatehouse/engine"
import { Effect } from "effect"

const program = Effect.gen(function*() {
  const approvals = yield* Approvals.Approvals
  const reviewer = { id: "grace", roles: ["finance"] }
  const { approvals: inbox } = yield* approvals.list({ reviewer })
  const pending = inbox.find((approval) => approval.runId === process.argv[2])
  if (pending === undefined) return yield* Effect.dieMessage(`no approval for ${process.argv[2]}`)
  const result = yield* approvals.decide({
    runId: pending.runId,
    nodeId: pending.nodeId,
    verdict: "approve",
    by: reviewer,
    requestHash: pending.requestHash
  })
  console.log(`decided ${result.status}`)
})

Effect.runPromise(program.pipe(Effect.provide(Gatehouse.layerClientConfig))).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
