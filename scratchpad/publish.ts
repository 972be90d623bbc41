/**
 * Publish: an editor approves an article for publication; a rejection takes a different branch
 * (notify the author) instead of failing the run. Run it with `npm run example scratchpad/publish.ts`.
 */
import { Approval, Approvals, GatehouseTest, Step, Workflow } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { isMain, runExample } from "./run.js"

export const Publish = Workflow.make({
  name: "publish",
  payload: Schema.Struct({ slug: Schema.String, title: Schema.String }),
  success: Schema.Struct({ slug: Schema.String, outcome: Schema.Literal("published", "returned-to-author") }),
  idempotencyKey: (payload) => payload.slug
})

export const PublishLive = Publish.toLayer(({ slug, title }) =>
  Effect.gen(function*() {
    const preview = yield* Step.run("render-preview", Effect.succeed(`https://preview.example/${slug}`), {
      success: Schema.String
    })
    const decision = yield* Approval.request("editorial-review", {
      title: `Publish "${title}"?`,
      metadata: { slug, preview },
      onDeny: "continue",
      reviewers: { roles: ["editors"] }
    })
    if (!decision.approved) {
      yield* Step.run("notify-author", Effect.logInfo(`returned to author: ${decision.note ?? "no note"}`))
      return { slug, outcome: "returned-to-author" as const }
    }
    yield* Step.run("publish", Effect.logInfo(`published ${slug}`))
    return { slug, outcome: "published" as const }
  })
)

export const scenario = Effect.gen(function*() {
  const approvals = yield* Approvals.Approvals
  const editor = { id: "eve", roles: ["editors"] }
  const accepted = yield* Publish.start({ slug: "effect-at-scale", title: "Effect at scale" })
  const rejected = yield* Publish.start({ slug: "clickbait", title: "You won't believe this" })
  yield* GatehouseTest.settle
  yield* approvals.decide({ runId: accepted, nodeId: "editorial-review", verdict: "approve", by: editor })
  yield* approvals.decide({
    runId: rejected,
    nodeId: "editorial-review",
    verdict: "deny",
    by: editor,
    note: "Rewrite the headline."
  })
  return [
    yield* Publish.execute({ slug: "effect-at-scale", title: "Effect at scale" }),
    yield* Publish.execute({ slug: "clickbait", title: "You won't believe this" })
  ]
})

if (isMain(import.meta.url)) runExample(PublishLive, scenario)
