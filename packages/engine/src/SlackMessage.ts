/**
 * Chat messages for approvals in Slack's incoming-webhook format (`text` and Block Kit `blocks`; Mattermost
 * and others accept the same JSON): the title, summary, key metadata, deadline, and buttons. For a person,
 * the buttons are one-click action links minted for that reviewer (Approve / Deny, each single use, bound
 * to the request they saw) and Open; for a channel, "Open in inbox" only, since a link decides as the
 * reviewer it was minted for.
 *
 * A webhook subscription with `format: "slack"` gets these messages from the dispatcher, links minted at
 * each attempt (only their hashes are stored); `render` also serves a caller that posts messages itself.
 *
 * @example
 * ```ts
 * import { SlackMessage } from "@gatehouse/engine"
 *
 * const message = SlackMessage.format({
 *   kind: "requested",
 *   title: "Refund 120 EUR to Ada?",
 *   summary: "Inside the refund window.",
 *   metadata: { ticketId: "T-1", amount: 120 },
 *   deadline: Date.parse("2026-12-01T12:00:00Z"),
 *   workflow: "refund-review",
 *   runId: "refund-review-T-1",
 *   openUrl: "https://gatehouse.example.com/inbox/refund-review-T-1/refund-decision",
 *   actions: undefined
 * })
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import { chatEventTypes } from "./internal/webhookPolicy.js"
import type { WebhookEvent } from "./Webhooks.js"

/**
 * A Block Kit block (the subset these messages use).
 *
 * @since 0.1.0
 * @category models
 */
export type Block =
  | { readonly type: "header"; readonly text: PlainText }
  | { readonly type: "section"; readonly text?: Mrkdwn; readonly fields?: ReadonlyArray<Mrkdwn> }
  | { readonly type: "context"; readonly elements: ReadonlyArray<Mrkdwn> }
  | { readonly type: "actions"; readonly elements: ReadonlyArray<Button> }

/**
 * @since 0.1.0
 * @category models
 */
export interface PlainText {
  readonly type: "plain_text"
  readonly text: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Mrkdwn {
  readonly type: "mrkdwn"
  readonly text: string
}

/**
 * A link button: opening it goes to the URL (Slack sends no interaction to Gatehouse).
 *
 * @since 0.1.0
 * @category models
 */
export interface Button {
  readonly type: "button"
  readonly text: PlainText
  readonly url: string
  readonly action_id: string
  readonly style?: "primary" | "danger"
}

/**
 * The incoming-webhook JSON: `text` is the notification's fallback, `blocks` the message.
 *
 * @since 0.1.0
 * @category models
 */
export interface Payload {
  readonly text: string
  readonly blocks: ReadonlyArray<Block>
}

/**
 * What a message says.
 *
 * @since 0.1.0
 * @category models
 */
export interface Content {
  readonly kind: "requested" | "reminder" | "escalated" | "decided" | "timed-out"
  readonly title: string
  readonly summary?: string | undefined
  readonly metadata?: unknown
  /** Epoch milliseconds. */
  readonly deadline?: number | undefined
  readonly workflow?: string | undefined
  readonly runId: string
  /** Who decided and how, for `decided`. */
  readonly decision?: { readonly outcome: string; readonly decidedBy: string; readonly note?: string | undefined } | undefined
  /** The approval's page in the inbox. */
  readonly openUrl?: string | undefined
  /** One-click links of one reviewer; absent for a channel (or when none could be minted). */
  readonly actions?: { readonly approve: string; readonly deny: string } | undefined
}

/**
 * Escapes the three characters Slack's mrkdwn gives meaning to (`&`, `<`, `>`): a title cannot inject a
 * link or a mention.
 *
 * @since 0.1.0
 * @category formatting
 */
export const escape = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

const truncate = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`)

const mrkdwn = (text: string): Mrkdwn => ({ type: "mrkdwn", text })
const plain = (text: string): PlainText => ({ type: "plain_text", text })

const valueText = (value: unknown): string =>
  typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value)

/** At most ten fields of the metadata's top level (Block Kit's limit), each shortened. */
const metadataFields = (metadata: unknown): ReadonlyArray<Mrkdwn> => {
  if (metadata === null || typeof metadata !== "object" || Array.isArray(metadata)) return []
  return Object.entries(metadata as Record<string, unknown>).slice(0, 10).map(([key, value]) =>
    mrkdwn(`*${escape(truncate(key, 100))}*\n${escape(truncate(valueText(value), 500))}`)
  )
}

const deadlineText = (deadline: number): string => {
  const seconds = Math.floor(deadline / 1000)
  // Shown in the reader's time zone by Slack; the fallback is UTC.
  return `<!date^${seconds}^{date_short_pretty} at {time}|${new Date(deadline).toISOString()}>`
}

const headline = (content: Content): string => {
  switch (content.kind) {
    case "requested":
      return content.title
    case "reminder":
      return `Reminder: ${content.title}`
    case "escalated":
      return `Escalated: ${content.title}`
    case "decided":
      return `Decided: ${content.title}`
    case "timed-out":
      return `Timed out: ${content.title}`
  }
}

/**
 * The message for an approval.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (content: Content): Payload => {
  const title = headline(content)
  const blocks: Array<Block> = [{ type: "header", text: plain(truncate(title, 150)) }]
  if (content.summary !== undefined && content.summary !== "") {
    blocks.push({ type: "section", text: mrkdwn(escape(truncate(content.summary, 2900))) })
  }
  if (content.decision !== undefined) {
    const note = content.decision.note === undefined ? "" : `: ${escape(truncate(content.decision.note, 1000))}`
    blocks.push({
      type: "section",
      text: mrkdwn(`*${escape(content.decision.outcome)}* by ${escape(content.decision.decidedBy)}${note}`)
    })
  }
  const fields = metadataFields(content.metadata)
  if (fields.length > 0) blocks.push({ type: "section", fields })
  const context: Array<Mrkdwn> = []
  if (content.deadline !== undefined && (content.kind !== "decided" && content.kind !== "timed-out")) {
    context.push(mrkdwn(`Deadline: ${deadlineText(content.deadline)}`))
  }
  if (content.workflow !== undefined) context.push(mrkdwn(`Workflow: ${escape(truncate(content.workflow, 200))}`))
  context.push(mrkdwn(`Run: ${escape(truncate(content.runId, 300))}`))
  blocks.push({ type: "context", elements: context })
  const open = content.kind === "decided" || content.kind === "timed-out" ? undefined : content.actions
  const buttons: Array<Button> = []
  if (open !== undefined) {
    buttons.push({ type: "button", text: plain("Approve"), url: open.approve, action_id: "approve", style: "primary" })
    buttons.push({ type: "button", text: plain("Deny"), url: open.deny, action_id: "deny", style: "danger" })
  }
  if (content.openUrl !== undefined) {
    buttons.push({
      type: "button",
      text: plain(content.actions === undefined ? "Open in inbox" : "Open"),
      url: content.openUrl,
      action_id: "open"
    })
  }
  if (buttons.length > 0) blocks.push({ type: "actions", elements: buttons })
  return { text: truncate(title, 300), blocks }
}

/**
 * The event types a chat message is made for; a `format: "slack"` subscription gets only these.
 *
 * @since 0.1.0
 * @category formatting
 */
export const eventTypes: ReadonlyArray<string> = chatEventTypes

/**
 * Where links point: the inbox's pages on the server's public URL. The defaults follow the inbox's routes;
 * a deployment that mounts them elsewhere passes its own.
 *
 * @since 0.1.0
 * @category models
 */
export interface Links {
  readonly publicUrl: string
  readonly approvalUrl?: ((runId: string, nodeId: string) => string) | undefined
  readonly actionUrl?: ((token: string) => string) | undefined
}

/**
 * @since 0.1.0
 * @category formatting
 */
export const approvalUrl = (links: Links, runId: string, nodeId: string): string =>
  links.approvalUrl?.(runId, nodeId) ??
    `${links.publicUrl.replace(/\/+$/, "")}/inbox/${encodeURIComponent(runId)}/${encodeURIComponent(nodeId)}`

/**
 * @since 0.1.0
 * @category formatting
 */
export const actionUrl = (links: Links, token: string): string =>
  links.actionUrl?.(token) ?? `${links.publicUrl.replace(/\/+$/, "")}/inbox/links/${encodeURIComponent(token)}`

/**
 * The person a message is for: an id, and the roles their links may decide with. The roles must come from
 * a trusted source (the `Directory`, an authenticated principal), never from a request: the dispatcher
 * takes them from the `Directory` only.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reviewer {
  readonly id: string
  readonly roles?: ReadonlyArray<string> | undefined
}

/**
 * Mints a one-click link: `ActionLinks.mint`, or any function of that shape.
 *
 * @since 0.1.0
 * @category models
 */
export type Mint = (input: {
  readonly runId: string
  readonly nodeId: string
  readonly reviewer: Reviewer
  readonly verdict: "approve" | "deny"
}) => Effect.Effect<{ readonly token: string }, unknown>

/**
 * The message for an outbox event (a `WebhookEvent` about an approval): for a person (`reviewer`), Approve
 * and Deny links minted for them; when the reviewer may not decide (or minting fails), Open only; for a
 * channel, "Open in inbox". Undefined for events that make no chat message.
 *
 * @since 0.1.0
 * @category formatting
 */
export const render = (
  event: WebhookEvent,
  options: { readonly links?: Links | undefined; readonly reviewer?: Reviewer | undefined; readonly mint?: Mint | undefined }
): Effect.Effect<Payload | undefined> =>
  Effect.gen(function*() {
    const { data } = event
    const kind = kindOf(event.type)
    if (kind === undefined || data.runId === undefined || data.nodeId === undefined) return undefined
    const approval = data.approval
    const details = (data.details ?? {}) as Record<string, unknown>
    const links = options.links
    const waiting = approval === undefined || approval.status === "waiting-approval"
    let actions: { approve: string; deny: string } | undefined
    if (links !== undefined && options.reviewer !== undefined && options.mint !== undefined && waiting &&
      (kind === "requested" || kind === "reminder" || kind === "escalated")) {
      const mint = options.mint
      const minted = yield* Effect.all([
        mint({ runId: data.runId, nodeId: data.nodeId, reviewer: options.reviewer, verdict: "approve" }),
        mint({ runId: data.runId, nodeId: data.nodeId, reviewer: options.reviewer, verdict: "deny" })
      ]).pipe(Effect.option)
      if (minted._tag === "Some") {
        actions = { approve: actionUrl(links, minted.value[0].token), deny: actionUrl(links, minted.value[1].token) }
      }
    }
    const verdict = typeof details.verdict === "string" ? details.verdict : undefined
    const decision = kind === "decided"
      ? {
        outcome: verdict === "approve" ? "Approved" : verdict === "deny" ? "Denied" : verdict === "request-changes"
          ? "Changes requested"
          : approval?.status ?? "Decided",
        decidedBy: data.actor ?? "someone"
      }
      : undefined
    const deadline = typeof details.deadline === "number" ? details.deadline : approval?.deadline
    return format({
      kind,
      title: approval?.title ?? (typeof details.title === "string" ? details.title : data.nodeId),
      summary: approval?.summary,
      metadata: approval?.metadata,
      deadline,
      workflow: data.workflow,
      runId: data.runId,
      decision,
      openUrl: links === undefined ? undefined : approvalUrl(links, data.runId, data.nodeId),
      actions
    })
  })

const kindOf = (type: string): Content["kind"] | undefined => {
  switch (type) {
    case "approval.requested":
      return "requested"
    case "approval.reminder":
      return "reminder"
    case "approval.escalated":
      return "escalated"
    case "approval.decided":
      return "decided"
    case "approval.timed-out":
      return "timed-out"
    default:
      return undefined
  }
}
