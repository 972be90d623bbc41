/**
 * The inbox's list (pending, decided by me, all I can see; by workflow, by cursor pages), its live event
 * stream, and bulk decisions on the selected approvals.
 */
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Approvals, Waiting } from "@gatehouse/engine"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { isOperator } from "../../Authentication.js"
import { StreamSettings } from "../../http/EventsLive.js"
import { reviewerOf } from "../access.js"
import { type InboxEnv, principalOf, signedIn, signedInPost } from "./env.js"
import { recover } from "./errors.js"
import { message, type Viewer } from "./layout.js"
import { inbox, inboxList } from "./listPage.js"
import { decodeForm, decodeQuery, queryOf, Text } from "./requests.js"
import { page, seeOther } from "./responses.js"

const ListQuery = Schema.Struct({
  status: Schema.optionalWith(Schema.Literal("pending", "mine", "all"), { default: () => "pending" as const }),
  workflow: Schema.optional(Text("workflow", 300)),
  cursor: Schema.optional(Text("cursor", 1000)),
  partial: Schema.optional(Schema.Literal("1"))
})

const BulkForm = Schema.Struct({
  _csrf: Text("_csrf", 200),
  verdict: Schema.Literal("approve", "deny").annotations({ message: () => "verdict must be approve or deny" }),
  note: Schema.optional(Text("Note", Approvals.limits.noteLength)),
  item: Schema.Array(Text("item", 800)).pipe(
    Schema.minItems(1, { message: () => "select at least one approval" }),
    Schema.maxItems(100, { message: () => "select at most 100 approvals" })
  )
})

/** A bulk form's item, `runId/nodeId/requestHash` with the first two URI-encoded. */
const itemOf = (item: string) => {
  const [runId, nodeId, requestHash] = item.split("/")
  const decode = (part: string | undefined) => {
    try {
      return decodeURIComponent(part ?? "")
    } catch {
      return ""
    }
  }
  return { runId: decode(runId), nodeId: decode(nodeId), requestHash: requestHash ?? "" }
}

/** `GET /inbox`, `/inbox/decided` and `/inbox/events`, `POST /inbox/bulk`. */
export const register = (router: HttpApiBuilder.Router["Type"], env: InboxEnv) =>
  Effect.gen(function*() {
    const { approvals, events } = env

    const listFor = (viewer: Viewer, query: typeof ListQuery.Type) => {
      const base = {
        limit: 20,
        ...(query.workflow !== undefined && query.workflow !== "" ? { workflow: query.workflow } : {}),
        ...(query.cursor !== undefined ? { cursor: query.cursor } : {})
      }
      switch (query.status) {
        case "pending":
          return approvals.list({ ...base, reviewer: reviewerOf(viewer), order: "deadline" })
        case "mine":
          return approvals.list({ ...base, decidedBy: viewer.id })
        case "all":
          return approvals.list({
            ...base,
            status: "any",
            ...(isOperator(principalOf(viewer)) ? {} : { reviewer: reviewerOf(viewer) })
          })
      }
    }

    const inboxRows = (viewer: Viewer, query: typeof ListQuery.Type) =>
      Effect.gen(function*() {
        const listed = yield* listFor(viewer, query)
        const now = yield* Clock.currentTimeMillis
        const rows = yield* Effect.forEach(listed.approvals, (summary) =>
          Effect.gen(function*() {
            const approval = yield* approvals.get({ runId: summary.runId, nodeId: summary.nodeId })
            const allowed = Approvals.allowedActions(approval, reviewerOf(viewer), now)
            return {
              approval,
              wait: approval.status === "waiting-approval" ? Waiting.approvalWait(approval) : undefined,
              canApprove: allowed.approve.allowed,
              canDeny: allowed.deny.allowed
            }
          }))
        const next = listed.cursor === undefined ? undefined : (() => {
          const params = new URLSearchParams()
          params.set("status", query.status)
          if (query.workflow !== undefined && query.workflow !== "") params.set("workflow", query.workflow)
          params.set("cursor", listed.cursor!)
          return `/inbox?${params.toString()}`
        })()
        return {
          html: inboxList({ rows, now, nextPage: next }),
          workflows: [...new Set(rows.map((row) => row.approval.workflow))]
        }
      })

    yield* router.get(
      "/inbox",
      recover(signedIn(env, (viewer) =>
        Effect.gen(function*() {
          const query = yield* decodeQuery(ListQuery)
          // The stream's cursor first: whatever changes after it reaches the page, nothing is missed.
          const latest = yield* events.latest
          const list = yield* inboxRows(viewer, query)
          if (query.partial === "1") return page(list.html)
          return page(inbox({
            viewer,
            status: query.status,
            workflow: query.workflow,
            workflows: list.workflows,
            list: list.html,
            liveUrl: `/inbox/events${latest === undefined ? "" : `?after=${encodeURIComponent(latest)}`}`
          }))
        })))
    )

    yield* router.get("/inbox/decided", Effect.succeed(seeOther("/inbox?status=mine")))

    yield* router.get(
      "/inbox/events",
      recover(Effect.gen(function*() {
        const viewer = yield* env.currentViewer
        if (Option.isNone(viewer)) {
          return HttpServerResponse.text("sign in first", { status: 401, headers: { "cache-control": "no-store" } })
        }
        const request = yield* HttpServerRequest.HttpServerRequest
        const after = request.headers["last-event-id"] ?? queryOf(request).get("after") ?? undefined
        // A bad cursor is a 400 before the stream starts.
        yield* events.read({ ...(after !== undefined ? { after } : {}), limit: 1 })
        const settings = yield* StreamSettings
        const body = events.stream({ ...(after !== undefined ? { after } : {}), pollInterval: settings.pollInterval }).pipe(
          Stream.filter((event) => event.type.startsWith("approval.") || event.type.startsWith("run.")),
          // Only that something changed: the page reads what it may see itself.
          Stream.map((event) => `id: ${event.cursor}\nevent: change\ndata: ${JSON.stringify({ type: event.type })}\n\n`),
          Stream.merge(
            Stream.repeatEffectWithSchedule(Effect.succeed(": keep-alive\n\n"), Schedule.spaced(settings.keepAlive)),
            { haltStrategy: "left" }
          ),
          Stream.catchAll((error) => Stream.fromEffect(Effect.logWarning("inbox event stream ended", error)).pipe(Stream.drain)),
          Stream.encodeText
        )
        return HttpServerResponse.stream(Stream.concat(Stream.make(new TextEncoder().encode(": stream\n\n")), body), {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
        })
      }))
    )

    yield* router.post(
      "/inbox/bulk",
      recover(signedInPost(env, (viewer, form) =>
        Effect.gen(function*() {
          const input = yield* decodeForm(BulkForm, form, ["item"])
          const items = input.item.map(itemOf)
          const found = yield* Effect.forEach(items, (item) => Effect.option(approvals.get(item)))
          const records = found.filter(Option.isSome).map((record) => record.value)
          const kinds = new Set(records.map((record) => `${record.workflow}\n${record.baseId}`))
          if (records.length !== items.length || kinds.size !== 1) {
            return page(
              message({
                title: "Nothing decided",
                text: "Bulk decisions need approvals of the same kind (one workflow, one approval node). Nothing was decided.",
                viewer,
                back: { href: "/inbox", label: "Back to the inbox" }
              }),
              400
            )
          }
          const outcomes = yield* Effect.forEach(items, (item, i) =>
            approvals.decide({
              runId: item.runId,
              nodeId: item.nodeId,
              verdict: input.verdict,
              by: reviewerOf(viewer),
              requestHash: item.requestHash,
              ...(input.note !== undefined ? { note: input.note } : {})
            }).pipe(
              Effect.map((result) => `${records[i].title} (${item.runId}): ${result.status}`),
              // One refused item does not stop the others; the database failing does.
              Effect.catchIf(
                (error) => error._tag !== "StorageError",
                (error) => Effect.succeed(`${records[i].title} (${item.runId}): not recorded: ${error.message}`)
              )
            ))
          return page(message({
            title: `${input.verdict === "approve" ? "Approved" : "Denied"} ${items.length} approvals`,
            text: outcomes.join("; "),
            viewer,
            back: { href: "/inbox", label: "Back to the inbox" }
          }))
        })))
    )
  })
