/**
 * A long-lived runner process, as an application writes it: `Gatehouse.runMain` on `Gatehouse.layerConfig`
 * (GATEHOUSE_DATABASE_URL and the runner options from the environment). Its workflow's step announces
 * itself on stdout and then waits forever, so the run holds a lease when the test sends SIGTERM.
 */
import { Gatehouse, Step, Workflow } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { fileURLToPath } from "node:url"

export const Hold = Workflow.make({
  name: "long-runner-hold",
  payload: Schema.Struct({ id: Schema.String }),
  idempotencyKey: (payload) => payload.id
})

export const HoldLive = Hold.toLayer((_payload, run) =>
  Step.run(
    "hold",
    Effect.zipRight(Effect.sync(() => process.stdout.write(`inside ${run.runId}\n`)), Effect.never)
  )
)

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  Gatehouse.runMain(Gatehouse.layerConfig({ workflows: HoldLive }), { shutdownTimeout: "20 seconds" })
}
