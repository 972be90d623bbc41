// Process 1: the engine (runner included) from GATEHOUSE_DATABASE_URL; starts a refund, says when it
// waits on its approval, and prints the result once another process has decided.
import { Gatehouse, Workflows } from "@gatehouse/engine"
import { Effect, Exit, Schedule } from "effect"
import { RefundReview, RefundReviewLive } from "./workflow.mjs"

const program = Effect.gen(function*() {
  const runId = yield* RefundReview.start({ ticketId: "T-1", amount: 40 })
  const workflows = yield* Workflows.Workflows
  yield* workflows.poll(runId).pipe(
    Effect.repeat({ until: (run) => run.status === "waiting-approval", schedule: Schedule.spaced("50 millis") })
  )
  console.log(`waiting ${runId}`)
  const exit = yield* RefundReview.result(runId)
  console.log(`result ${JSON.stringify(Exit.isSuccess(exit) ? exit.value : String(exit.cause))}`)
})

Effect.runPromise(program.pipe(Effect.provide(Gatehouse.layerConfig({ workflows: RefundReviewLive })))).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
