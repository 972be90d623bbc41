/**
 * One-click decision links for notifications (email, chat, phones): a token bound to one reviewer, one
 * approval, one request hash and one verdict, single use, expiring at the approval's deadline at the
 * latest. The token is 256 random bits handed out once; the engine keeps only its SHA-256, so a leaked
 * database gives no working link. Opening a link must never decide (link scanners follow every GET): a
 * front end shows `inspect`'s answer as a confirm page, and only the confirmation calls `redeem`, which
 * decides through `Approvals.decide`'s rules in the same transaction that uses the link up.
 *
 * Who a link may be minted for: a person who may take that action now by `Approvals.decide`'s rules, with
 * roles that come from a trusted source only. A reviewer given by id gets the roles the deployment's
 * `Directory` gives them (none when it does not know them); a reviewer given with roles is taken as the
 * caller vouches for it, so pass only an authenticated principal or a `Directory` entry, never roles from
 * a request. Every link minted is recorded in the audit chain (`action-link.minted`: for whom, which
 * verdict, who asked).
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { randomBytes } from "node:crypto"
import * as Approvals from "./Approvals.js"
import * as Directory from "./Directory.js"
import { sha256 } from "./internal/canonical.js"
import type { ActionLinkRow } from "./internal/rows.js"
import { formatError } from "./internal/codec.js"
import { JsonValue, Text } from "./internal/json.js"
import * as Storage from "./internal/storage.js"
import { mapStorage } from "./internal/storageError.js"
import type { StorageError } from "./StorageError.js"

/**
 * The verdicts a link can carry (request-changes needs a note, which a one-click link cannot have).
 *
 * @since 0.1.0
 * @category models
 */
export const LinkVerdict = Schema.Literal("approve", "deny")

/**
 * @since 0.1.0
 * @category models
 */
export type LinkVerdict = typeof LinkVerdict.Type

/**
 * How long a link lives when neither the caller nor the approval's deadline bounds it sooner.
 *
 * @since 0.1.0
 * @category models
 */
export const defaultLifetimeMillis: number = 7 * 24 * 60 * 60 * 1000

/**
 * What `mint` takes, validated with this schema.
 *
 * @since 0.1.0
 * @category models
 */
export const MintInput = Schema.Struct({
  runId: Schema.NonEmptyString.pipe(Schema.maxLength(300), Schema.compose(Text)),
  nodeId: Schema.NonEmptyString.pipe(Schema.maxLength(300), Schema.compose(Text)),
  /**
   * An id (roles from the `Directory`), or a reviewer with the roles the caller vouches for (an
   * authenticated principal, a `Directory` entry).
   */
  reviewer: Schema.Union(Approvals.Reviewer.fields.id, Approvals.Reviewer),
  verdict: LinkVerdict,
  /** Who asks for the link, for the audit (`webhook:wh_…`); default the reviewer. */
  by: Schema.optional(Schema.NonEmptyString.pipe(Schema.maxLength(300), Schema.compose(Text))),
  /** Epoch milliseconds; capped at the approval's deadline. */
  expiresAt: Schema.optional(Schema.Int.pipe(Schema.positive()))
})

/**
 * @since 0.1.0
 * @category models
 */
export type MintInput = typeof MintInput.Encoded

/**
 * What `redeem` takes: the token, and what the confirm page adds (a note, an approval's payload).
 *
 * @since 0.1.0
 * @category models
 */
export const RedeemInput = Schema.Struct({
  token: Schema.String.pipe(Schema.maxLength(200)),
  note: Approvals.DecideInput.fields.note,
  payload: Schema.optional(JsonValue)
})

/**
 * @since 0.1.0
 * @category models
 */
export type RedeemInput = typeof RedeemInput.Encoded

/**
 * Why a link does not decide: `unknown` (no such link), `used`, `expired`, `changed` (the request was
 * replaced by a new revision), `decided` (the approval is no longer waiting), `not-allowed` (the reviewer
 * may no longer take this action; `detail` says why).
 *
 * @since 0.1.0
 * @category models
 */
export const RefusalReason = Schema.Literal("unknown", "used", "expired", "changed", "decided", "not-allowed")

/**
 * @since 0.1.0
 * @category errors
 */
export class ActionLinkRefused extends Schema.TaggedError<ActionLinkRefused>("@gatehouse/engine/ActionLinkRefused")(
  "ActionLinkRefused",
  { reason: RefusalReason, detail: Schema.optional(Schema.String) }
) {
  override get message(): string {
    const base = {
      unknown: "This link is not valid.",
      used: "This link was already used.",
      expired: "This link has expired.",
      changed: "The request changed since this link was sent.",
      decided: "This approval was already decided.",
      "not-allowed": "You may no longer take this action."
    }[this.reason]
    return this.detail === undefined ? base : `${base} (${this.detail})`
  }
}

/**
 * A valid, unused link and the approval it decides, as a confirm page shows it.
 *
 * @since 0.1.0
 * @category models
 */
export class ActionLink extends Schema.Class<ActionLink>("@gatehouse/engine/ActionLinks/ActionLink")({
  runId: Schema.String,
  nodeId: Schema.String,
  reviewer: Approvals.Reviewer,
  verdict: LinkVerdict,
  requestHash: Schema.String,
  expiresAt: Schema.Number,
  approval: Approvals.ApprovalRecord
}) {}

/**
 * @since 0.1.0
 * @category tags
 */
export class ActionLinks extends Context.Tag("@gatehouse/engine/ActionLinks")<ActionLinks, {
  /**
   * A link for `reviewer` to take `verdict` on the approval as it is now. Refused when the reviewer may not
   * take that action now (the same rules as `Approvals.decide`). The token is returned once, never stored.
   */
  readonly mint: (input: MintInput) => Effect.Effect<
    { readonly token: string; readonly expiresAt: number },
    | Approvals.ApprovalNotFound
    | Approvals.NotAuthorized
    | Approvals.DecisionConflict
    | Approvals.InvalidDecision
    | StorageError
  >
  /** What a link would decide, if it still may: for the confirm page. Changes nothing. */
  readonly inspect: (token: string) => Effect.Effect<ActionLink, ActionLinkRefused | StorageError>
  /**
   * Uses the link up and decides, in one transaction, through `Approvals.decide` (with the link's reviewer
   * and request hash). A refused or failed decision leaves the link unused and changes nothing.
   */
  readonly redeem: (
    input: RedeemInput
  ) => Effect.Effect<Approvals.DecideResult, ActionLinkRefused | Approvals.InvalidDecision | StorageError>
}>() {}

const tokenShape = /^[A-Za-z0-9_-]{43}$/

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<ActionLinks["Type"], never, Storage.Storage | Approvals.Approvals> = Effect.gen(
  function*() {
    const storage = yield* Storage.Storage
    const { actionLinks: links, signals } = storage
    const approvals = yield* Approvals.Approvals

    const mint = (input: MintInput) =>
      Effect.gen(function*() {
        const decoded = yield* Schema.decodeUnknown(MintInput)(input, { onExcessProperty: "error" }).pipe(
          Effect.mapError((error) => new Approvals.InvalidDecision({ reason: formatError(error) }))
        )
        const reviewer: Approvals.Reviewer = typeof decoded.reviewer === "string"
          ? yield* Effect.map(
            Effect.flatMap(Directory.Directory, (directory) => directory.find(decoded.reviewer as string)),
            (person) => ({ id: decoded.reviewer as string, roles: Option.match(person, { onNone: () => [], onSome: (p) => p.roles }) })
          )
          : decoded.reviewer
        const approval = yield* approvals.get({ runId: decoded.runId, nodeId: decoded.nodeId })
        const address = { runId: approval.runId, nodeId: approval.nodeId }
        if (approval.status !== "waiting-approval") {
          return yield* new Approvals.DecisionConflict({
            ...address,
            status: approval.status,
            attempted: decoded.verdict,
            reason: "decided"
          })
        }
        const allowed = (yield* approvals.canDecide(address, reviewer))[decoded.verdict]
        if (!allowed.allowed) {
          return yield* new Approvals.NotAuthorized({ ...address, reviewer: reviewer.id, reason: allowed.reason })
        }
        const now = yield* Clock.currentTimeMillis
        const expiresAt = Math.min(
          decoded.expiresAt ?? now + defaultLifetimeMillis,
          approval.deadline ?? Number.MAX_SAFE_INTEGER
        )
        if (expiresAt <= now) {
          return yield* new Approvals.InvalidDecision({ reason: "expiresAt: the link would already have expired" })
        }
        const token = randomBytes(32).toString("base64url")
        yield* Effect.all([
          links.insert({
            tokenHash: sha256(token),
            ...address,
            reviewer: reviewer.id,
            roles: reviewer.roles ?? [],
            verdict: decoded.verdict,
            requestHash: approval.requestHash,
            expiresAt,
            createdAt: now,
            usedAt: undefined
          }),
          storage.audit.append({
            ...address,
            action: "action-link.minted",
            actor: decoded.by ?? reviewer.id,
            requestHash: approval.requestHash,
            data: { reviewer: reviewer.id, roles: reviewer.roles ?? [], verdict: decoded.verdict, expiresAt },
            now
          })
        ], { discard: true }).pipe(storage.transaction)
        return { token, expiresAt }
      })

    const refused = (reason: ActionLinkRefused["reason"], detail?: string) =>
      new ActionLinkRefused({ reason, ...(detail !== undefined ? { detail } : {}) })

    /** Why the link's approval cannot be decided by it now, if it cannot. */
    const check = (link: ActionLinkRow) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        if (link.usedAt !== undefined) return yield* refused("used")
        if (now >= link.expiresAt) return yield* refused("expired")
        const address = { runId: link.runId, nodeId: link.nodeId }
        const approval = yield* approvals.get(address).pipe(
          Effect.catchTag("ApprovalNotFound", () => refused("unknown"))
        )
        if (approval.status !== "waiting-approval") {
          const latest = yield* approvals.get({ runId: link.runId, nodeId: approval.baseId }).pipe(
            Effect.option
          )
          return yield* Option.isSome(latest) && latest.value.nodeId !== approval.nodeId
            ? refused("changed", `now revision ${latest.value.revision}`)
            : refused("decided", approval.status)
        }
        if (approval.requestHash !== link.requestHash) return yield* refused("changed")
        const reviewer: Approvals.Reviewer = { id: link.reviewer, roles: link.roles }
        const allowed = (yield* approvals.canDecide(address, reviewer))[link.verdict]
        if (!allowed.allowed) return yield* refused("not-allowed", allowed.reason)
        return new ActionLink({
          ...address,
          reviewer,
          verdict: link.verdict,
          requestHash: link.requestHash,
          expiresAt: link.expiresAt,
          approval
        })
      }).pipe(Effect.catchTag("ApprovalNotFound", () => refused("unknown")))

    const find = (token: string, options: { readonly lock?: boolean } = {}) =>
      Effect.gen(function*() {
        if (!tokenShape.test(token)) return yield* refused("unknown")
        const link = yield* links.get(sha256(token), options)
        if (Option.isNone(link)) return yield* refused("unknown")
        return link.value
      })

    const inspect = (token: string) => Effect.flatMap(find(token), check)

    const redeem = (input: RedeemInput) =>
      Effect.gen(function*() {
        const decoded = yield* Schema.decodeUnknown(RedeemInput)(input, { onExcessProperty: "error" }).pipe(
          Effect.mapError((error) => new Approvals.InvalidDecision({ reason: formatError(error) }))
        )
        const result = yield* Effect.gen(function*() {
          const link = yield* find(decoded.token, { lock: true })
          const valid = yield* check(link)
          const now = yield* Clock.currentTimeMillis
          if (!(yield* links.markUsed(link.tokenHash, now))) return yield* refused("used")
          return yield* approvals.decide({
            runId: valid.runId,
            nodeId: valid.nodeId,
            verdict: valid.verdict,
            by: valid.reviewer,
            requestHash: valid.requestHash,
            ...(decoded.note !== undefined ? { note: decoded.note } : {}),
            ...(decoded.payload !== undefined ? { payload: decoded.payload } : {})
          }).pipe(
            Effect.catchTags({
              ApprovalNotFound: () => refused("unknown"),
              StaleApproval: () => refused("changed"),
              // The policy that required the approval changed since the link was minted.
              PolicyChanged: (error) => refused("changed", error.message),
              NotAuthorized: (error) => refused("not-allowed", error.reason),
              DecisionConflict: (error) =>
                refused(error.reason === "deadline-passed" ? "expired" : "decided", error.status)
            })
          )
        }).pipe(storage.transaction)
        // `decide` nudged the runner inside this transaction; nudge it again now that the decision committed.
        yield* signals.work.notify
        return result
      })

    return ActionLinks.of({
      mint: (input) => mapStorage("ActionLinks.mint")(mint(input)),
      inspect: (token) => mapStorage("ActionLinks.inspect")(inspect(token)),
      redeem: (input) => mapStorage("ActionLinks.redeem")(redeem(input))
    })
  }
)

/**
 * Action links on the SQL client in context, deciding through the `Approvals` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<ActionLinks, never, SqlClient.SqlClient | Approvals.Approvals> = Layer.effect(
  ActionLinks,
  make
).pipe(Layer.provide(Storage.layer))
