/**
 * Release pipeline: a QA gate, then a production gate on the deploy step itself (`needsApproval`).
 * Both fail the run on a denial, so nothing after a denied gate ever runs.
 * Run it with `npm run example scratchpad/release-pipeline.ts`.
 */
import { Approval, Approvals, GatehouseTest, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { isMain, runExample } from "./run.js"

export const ReleasePipeline = Workflow.make({
  name: "release-pipeline",
  payload: Schema.Struct({ version: Schema.String }),
  success: Schema.Struct({ version: Schema.String, environments: Schema.Array(Schema.String) }),
  idempotencyKey: (payload) => payload.version
})

export const ReleasePipelineLive = ReleasePipeline.toLayer(({ version }) =>
  Effect.gen(function*() {
    const artifact = yield* Step.run("build", Effect.succeed(`app-${version}.tar.gz`), { success: Schema.String })
    yield* Approval.request("qa-sign-off", {
      title: `QA sign-off for ${version}`,
      reviewed: { artifact },
      reviewers: { roles: ["qa"] }
    })
    yield* Step.run("deploy-staging", Effect.logInfo(`deploying ${artifact} to staging`))
    yield* Step.run("deploy-production", Effect.logInfo(`deploying ${artifact} to production`), {
      needsApproval: { title: `Ship ${version} to production?`, reviewers: { roles: ["release-managers"] } }
    })
    return { version, environments: ["staging", "production"] }
  })
)

/** 1.4.0 passes both gates; 1.5.0 is denied at QA and fails without deploying anywhere. */
export const scenario = Effect.gen(function*() {
  const approvals = yield* Approvals.Approvals
  const good = yield* ReleasePipeline.start({ version: "1.4.0" })
  const bad = yield* ReleasePipeline.start({ version: "1.5.0" })
  yield* GatehouseTest.settle
  yield* approvals.decide({ runId: good, nodeId: "qa-sign-off", verdict: "approve", by: { id: "quinn", roles: ["qa"] } })
  yield* approvals.decide({
    runId: bad,
    nodeId: "qa-sign-off",
    verdict: "deny",
    by: { id: "quinn", roles: ["qa"] },
    note: "Checkout is broken on Safari."
  })
  yield* GatehouseTest.settle
  yield* approvals.decide({
    runId: good,
    nodeId: "deploy-production/approval",
    verdict: "approve",
    by: { id: "rosa", roles: ["release-managers"] }
  })
  const shipped = yield* ReleasePipeline.execute({ version: "1.4.0" })
  const denied = yield* ReleasePipeline.result(bad)
  const steps = (yield* (yield* Workflows.Workflows).inspect(bad)).nodes.map((node) => `${node.nodeId}:${node.status}`)
  return { shipped, denied: denied._tag === "Failure" ? "failed: ApprovalDenied" : "completed", deniedRun: steps }
})

if (isMain(import.meta.url)) runExample(ReleasePipelineLive, scenario)
