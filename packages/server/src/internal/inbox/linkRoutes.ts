/**
 * Action links: `GET` shows the request and a confirm button (it never decides, so link previews and
 * scanners change nothing), `POST` decides through `ActionLinks.redeem`.
 */
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpRouter from "@effect/platform/HttpRouter"
import { Approvals } from "@gatehouse/engine"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { linkConfirm } from "./approvalPage.js"
import type { InboxEnv } from "./env.js"
import { CsrfRefused, recover } from "./errors.js"
import { fieldsOf, payloadOf } from "./forms.js"
import { approvalPath, message } from "./layout.js"
import { decodeForm, readForm, Text } from "./requests.js"
import { page } from "./responses.js"
import * as Session from "./session.js"

const LinkForm = Schema.Struct({
  _csrf: Text("_csrf", 200),
  note: Schema.optional(Text("Note", Approvals.limits.noteLength))
})

/** `GET` and `POST /inbox/links/:token`. */
export const register = (router: HttpApiBuilder.Router["Type"], env: InboxEnv) =>
  Effect.gen(function*() {
    const { keys, links } = env

    yield* router.get(
      "/inbox/links/:token",
      recover(Effect.gen(function*() {
        const token = (yield* HttpRouter.params).token ?? ""
        const link = yield* links.inspect(token)
        return page(linkConfirm({
          link,
          token,
          csrf: Session.csrfFor(keys, `link:${token}`),
          fields: fieldsOf(link.approval.decisionSchema),
          now: yield* Clock.currentTimeMillis
        }))
      }))
    )

    yield* router.post(
      "/inbox/links/:token",
      recover(Effect.gen(function*() {
        const token = (yield* HttpRouter.params).token ?? ""
        const form = yield* readForm
        if (!Session.checkCsrf(keys, `link:${token}`, form.get("_csrf") ?? undefined)) {
          return yield* new CsrfRefused({ viewer: undefined })
        }
        const input = yield* decodeForm(LinkForm, form)
        const link = yield* links.inspect(token)
        const fields = fieldsOf(link.approval.decisionSchema)
        const payload = link.verdict === "approve" ? payloadOf(fields, form) : undefined
        const now = yield* Clock.currentTimeMillis
        const again = (error: string) =>
          page(linkConfirm({ link, token, csrf: form.get("_csrf")!, fields, error, now }), 400)
        if (payload !== undefined && "error" in payload) return again(payload.error)
        const verb = link.verdict === "approve" ? "Approved" : "Denied"
        return yield* links.redeem({
          token,
          ...(input.note !== undefined ? { note: input.note } : {}),
          ...(payload !== undefined ? { payload: payload.payload } : {})
        }).pipe(
          Effect.map((result) =>
            page(message({
              title: result.status === "vote-recorded" ? "Vote recorded" : verb,
              text: `${verb}: ${link.approval.title} (${result.status}). You can close this page.`,
              back: { href: approvalPath(link.runId, link.nodeId), label: "See the approval" }
            }))
          ),
          // A decision the engine refuses leaves the link unused: the confirm page again, with the reason.
          Effect.catchTag("InvalidDecision", (error) => Effect.succeed(again(error.message)))
        )
      }))
    )
  })
