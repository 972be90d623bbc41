/**
 * An approval's page and its decision form. A decision goes through `Approvals.decide` with the request
 * hash the reviewer saw; a refused one shows the page again with the reason (`decisionRefusal`), a stale
 * one with the new content.
 */
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Approvals, Waiting } from "@gatehouse/engine"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { mayReadApproval, reviewerOf } from "../access.js"
import { approvalPage } from "./approvalPage.js"
import { type InboxEnv, principalOf, signedIn, signedInPost } from "./env.js"
import { type DecisionRefusal, decisionRefusal, NotVisible, recover } from "./errors.js"
import { fieldsOf, payloadOf, valuesOf } from "./forms.js"
import { approvalPath, type Viewer } from "./layout.js"
import { decodeForm, queryOf, Text } from "./requests.js"
import { page, seeOther } from "./responses.js"

const DecisionForm = Schema.Struct({
  _csrf: Text("_csrf", 200),
  verdict: Approvals.Verdict.annotations({ message: () => "verdict must be approve, deny or request-changes" }),
  note: Schema.optional(Text("Note", Approvals.limits.noteLength)),
  requestHash: Text("requestHash", 128)
})

type Banner = { readonly kind: "stale" | "error" | "done"; readonly text: string }

/** The banner after the redirect of a recorded decision (`?result=`). */
const resultBanner = (result: string | null): Banner | undefined =>
  result === "decided"
    ? { kind: "done", text: "Your decision was recorded." }
    : result === "vote-recorded"
    ? { kind: "done", text: "Your vote was recorded; more approvals are needed." }
    : result === "already-decided"
    ? { kind: "done", text: "This decision was already recorded." }
    : undefined

/** `GET` and `POST /inbox/:runId/:nodeId`: registered last, after the inbox's fixed paths. */
export const register = (router: HttpApiBuilder.Router["Type"], env: InboxEnv) =>
  Effect.gen(function*() {
    const { approvals, workflows } = env

    /** The approval the viewer may read at the route's address; another is not found. */
    const readable = (viewer: Viewer) =>
      Effect.gen(function*() {
        const params = yield* HttpRouter.params
        const address = { runId: params.runId ?? "", nodeId: params.nodeId ?? "" }
        const approval = yield* approvals.get(address)
        if (!mayReadApproval(principalOf(viewer), approval)) return yield* new NotVisible({ viewer })
        return { address, approval }
      })

    const previousOf = (approval: Approvals.ApprovalRecord) =>
      approval.revision <= 1
        ? Effect.succeed(undefined)
        : approvals.get({ runId: approval.runId, nodeId: `${approval.baseId}#${approval.revision - 1}` }).pipe(
          Effect.option,
          Effect.map(Option.getOrUndefined)
        )

    const render = (
      viewer: Viewer,
      approval: Approvals.ApprovalRecord,
      extra: {
        readonly banner?: Banner | undefined
        readonly values?: Readonly<Record<string, string>>
        readonly note?: string | undefined
      } = {}
    ) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const address = { runId: approval.runId, nodeId: approval.nodeId }
        const allowed = yield* approvals.canDecide(address, reviewerOf(viewer))
        const inspection = yield* workflows.inspect(approval.runId).pipe(
          Effect.option,
          Effect.map(Option.getOrUndefined)
        )
        return approvalPage({
          viewer,
          approval,
          previous: yield* previousOf(approval),
          allowed,
          wait: approval.status === "waiting-approval" ? Waiting.approvalWait(approval) : undefined,
          inspection,
          fields: fieldsOf(approval.decisionSchema),
          now,
          ...extra
        })
      })

    yield* router.get(
      "/inbox/:runId/:nodeId",
      recover(signedIn(env, (viewer) =>
        Effect.gen(function*() {
          const { approval } = yield* readable(viewer)
          const banner = resultBanner(queryOf(yield* HttpServerRequest.HttpServerRequest).get("result"))
          return page(yield* render(viewer, approval, { banner }))
        })))
    )

    yield* router.post(
      "/inbox/:runId/:nodeId",
      recover(signedInPost(env, (viewer, form) =>
        Effect.gen(function*() {
          const input = yield* decodeForm(DecisionForm, form)
          const { address, approval: current } = yield* readable(viewer)
          const values = valuesOf(form)
          /** The page again, as it was opened, with the banner (and the form as filled in, unless stale). */
          const again = (status: number, banner: { readonly kind: "stale" | "error"; readonly text: string }) =>
            Effect.map(
              render(viewer, current, { banner, ...(banner.kind === "stale" ? {} : { values, note: input.note }) }),
              (body) => page(body, status)
            )
          const refused = (error: DecisionRefusal) => {
            const { banner, status } = decisionRefusal(error)
            return again(status, banner)
          }
          const fields = fieldsOf(current.decisionSchema)
          const payload = input.verdict === "approve" ? payloadOf(fields, form) : undefined
          if (payload !== undefined && "error" in payload) {
            return yield* again(400, { kind: "error", text: payload.error })
          }
          return yield* approvals.decide({
            ...address,
            verdict: input.verdict,
            by: reviewerOf(viewer),
            requestHash: input.requestHash,
            ...(input.note !== undefined ? { note: input.note } : {}),
            ...(payload !== undefined ? { payload: payload.payload } : {})
          }).pipe(
            Effect.map((result) =>
              seeOther(`${approvalPath(result.approval.runId, result.approval.nodeId)}?result=${result.status}`)
            ),
            Effect.catchTags({
              StaleApproval: refused,
              InvalidDecision: refused,
              NotAuthorized: refused,
              DecisionConflict: refused,
              PolicyChanged: refused
            })
          )
        })))
    )
  })
