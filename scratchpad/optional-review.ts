/**
 * Optional review: an extra security scan behind `Approval.gate`. Approved, it runs and its result is
 * `Some`; denied, it is skipped with `None` and the run goes on. Run it with
 * `npm run example scratchpad/optional-review.ts`.
 */
import { Approval, Approvals, GatehouseTest, Step, Workflow } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { isMain, runExample } from "./run.js"

export const Onboard = Workflow.make({
  name: "onboard-vendor",
  payload: Schema.Struct({ vendor: Schema.String }),
  success: Schema.Struct({ vendor: Schema.String, scan: Schema.String }),
  idempotencyKey: (payload) => payload.vendor
})

export const OnboardLive = Onboard.toLayer(({ vendor }) =>
  Effect.gen(function*() {
    const scan = yield* Approval.gate(
      "deep-scan",
      { title: `Run the paid deep security scan on ${vendor}?` },
      Step.run("run-deep-scan", Effect.succeed("no findings"), { success: Schema.String })
    )
    yield* Step.run("activate", Effect.logInfo(`activated ${vendor}`))
    return { vendor, scan: Option.getOrElse(scan, () => "skipped") }
  })
)

export const scenario = Effect.gen(function*() {
  const approvals = yield* Approvals.Approvals
  const scanned = yield* Onboard.start({ vendor: "acme" })
  const skipped = yield* Onboard.start({ vendor: "globex" })
  yield* GatehouseTest.settle
  yield* approvals.decide({ runId: scanned, nodeId: "deep-scan", verdict: "approve", by: "sec-lead" })
  yield* approvals.decide({ runId: skipped, nodeId: "deep-scan", verdict: "deny", by: "sec-lead" })
  return [yield* Onboard.execute({ vendor: "acme" }), yield* Onboard.execute({ vendor: "globex" })]
})

if (isMain(import.meta.url)) runExample(OnboardLive, scenario)
