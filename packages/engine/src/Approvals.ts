/**
 * The reviewer side of approvals: the inbox and decisions. Every front end (the CLI, the HTTP API, the
 * web inbox, tests) decides through `Approvals.decide`: integrity, idempotency, authorization and audit
 * live here, in one transaction per decision (`internal/approvals/decide.ts`). Who may decide is one
 * rule, `internal/decision.ts`: `decide`, `canDecide`, `allowedActions` and `isReviewer` all ask it.
 *
 * The models (`ApprovalRecord`, `DecideInput`, …) and the errors are written in
 * `internal/approvals/models.ts` and `internal/approvals/errors.ts`, and exported from here.
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
import type { ApprovalRow } from "./internal/storage/approvals.js"
import * as Decide from "./internal/approvals/decide.js"
import { ApprovalNotFound, type DecideError, InvalidCursor, InvalidDecision } from "./internal/approvals/errors.js"
import {
  type AllowedActions,
  ApprovalPage,
  type ApprovalRecord,
  type DecideInput,
  type DecideResult,
  ListOptions,
  type Reviewer,
  Vote
} from "./internal/approvals/models.js"
import { decodeCursor, encodeCursor, principalsOf, subjectOf, toRecord } from "./internal/approvals/records.js"
import { reviewerOf } from "./internal/approvals/reviewer.js"
import { formatError } from "./internal/codec.js"
import * as Decision from "./internal/decision.js"
import * as JsonSchemaValidator from "./internal/jsonSchemaValidator.js"
import * as InternalMetrics from "./internal/metrics.js"
import * as Storage from "./internal/storage.js"
import { mapStorage } from "./internal/storageError.js"
import * as Tracing from "./internal/tracing.js"
import * as Run from "./Run.js"
import type { StorageError } from "./StorageError.js"

/**
 * @since 0.1.0
 */
export * from "./internal/approvals/errors.js"

/**
 * @since 0.1.0
 */
export * from "./internal/approvals/models.js"

/**
 * The approval metrics, as Effect `Metric`s: read them with `Metric.value`, or export them with
 * `@effect/opentelemetry`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = {
  requested: InternalMetrics.approvalsRequested,
  decided: InternalMetrics.approvalsDecided,
  alreadyDecided: InternalMetrics.approvalsAlreadyDecided,
  stale: InternalMetrics.approvalsStale,
  timedOut: InternalMetrics.approvalsTimedOut,
  escalated: InternalMetrics.approvalsEscalated,
  pending: InternalMetrics.approvalsPending,
  decisionWait: InternalMetrics.decisionWait
} as const

/**
 * The inbox and decisions. Every call fails with `StorageError` (never a defect) when the database fails it.
 *
 * @since 0.1.0
 * @category tags
 */
export class Approvals extends Context.Tag("@gatehouse/engine/Approvals")<Approvals, {
  /**
   * The approval queue, oldest first (or in `order`), each with its request context. A `cursor` that is
   * not one a page of this order returned fails with `InvalidCursor`; other options it cannot read, with
   * `InvalidDecision`.
   */
  readonly list: (options?: ListOptions) => Effect.Effect<ApprovalPage, InvalidDecision | InvalidCursor | StorageError>
  /** One approval, with its votes. `nodeId` may be a review's id, meaning its latest revision. */
  readonly get: (address: {
    readonly runId: string
    readonly nodeId: string
  }) => Effect.Effect<ApprovalRecord, ApprovalNotFound | StorageError>
  /**
   * Decides an approval, addressed by `(runId, nodeId)`, in one transaction: validates, checks the
   * reviewer, records the decision (or the vote, under a quorum), appends the audit entry and the event,
   * and makes the run runnable.
   */
  readonly decide: (input: DecideInput) => Effect.Effect<DecideResult, DecideError | StorageError>
  /**
   * Which actions this reviewer may take on the approval now (by the engine's `Clock`), judged by the same
   * rules as `decide`: what an inbox shows as buttons.
   */
  readonly canDecide: (
    address: { readonly runId: string; readonly nodeId: string },
    reviewer: Reviewer | string
  ) => Effect.Effect<AllowedActions, ApprovalNotFound | StorageError>
}>() {}

/**
 * Which of approve, deny and request-changes `reviewer` may do on `approval` at `now` (epoch
 * milliseconds), and why not: the rules of `decide` (authorization, self-approval, status, the run's end,
 * the deadline, votes of the current round), without a database. A record from `get` (with its votes)
 * gives the exact answer; one from `list` has no votes, so a reviewer's repeated vote shows as allowed.
 *
 * @example
 * ```ts
 * import { Approvals } from "@gatehouse/engine"
 * import { Clock, Effect } from "effect"
 *
 * const buttons = Effect.gen(function*() {
 *   const approvals = yield* Approvals.Approvals
 *   const approval = yield* approvals.get({ runId: "refund-1", nodeId: "refund-decision" })
 *   return Approvals.allowedActions(approval, { id: "ana", roles: ["finance"] }, yield* Clock.currentTimeMillis)
 * })
 * ```
 *
 * @since 0.1.0
 * @category decisions
 */
export const allowedActions = (
  approval: ApprovalRecord,
  reviewer: Reviewer | string,
  now: number,
  options?: {
    /** The approval's run has ended (a record does not say; `canDecide` reads it): nothing is allowed. */
    readonly runEnded?: boolean | undefined
  }
): AllowedActions =>
  Decision.allowedActions(subjectOf(approval, { runEnded: options?.runEnded === true }), reviewerOf(reviewer), now)

/**
 * Whether a reviewer is among an approval's assignees (an approval that names none is anyone's): the
 * engine's one rule for who may decide, which read access at every surface follows too.
 *
 * @since 0.1.0
 * @category decisions
 */
export const isReviewer = (approval: ApprovalRecord, reviewer: Reviewer | string): boolean =>
  Decision.isAssigned(approval.reviewers, reviewerOf(reviewer))

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Approvals["Type"], never, Storage.Storage> = Effect.gen(
  function*() {
    const storage = yield* Storage.Storage
    const { approvals, runs: store } = storage
    const { errorsText, validatorFor } = JsonSchemaValidator.make()

    const votesOf = (runId: string, nodeId: string) =>
      approvals.votes(runId, nodeId).pipe(
        Effect.map((rows) =>
          rows.map((row) => new Vote(row, true))
        )
      )

    const checkPayloadOf = (row: ApprovalRow): ((payload: unknown) => string | undefined) | undefined => {
      const schema = row.policy.decisionJsonSchema
      if (schema === undefined) return undefined
      const validate = validatorFor(schema)
      return (payload) => validate(payload) ? undefined : errorsText(validate.errors)
    }

    // A row is judged as the record the API returns, with what only the service knows besides.
    const rowSubject = (row: ApprovalRow, votes: ReadonlyArray<Vote>, runEnded: boolean): Decision.Subject =>
      subjectOf(toRecord(row, votes), { runEnded, checkPayload: checkPayloadOf(row) })

    const get = (address: { readonly runId: string; readonly nodeId: string }) =>
      Effect.gen(function*() {
        const row = yield* approvals.resolve(address.runId, address.nodeId)
        if (Option.isNone(row)) return yield* new ApprovalNotFound(address)
        return toRecord(row.value, yield* votesOf(row.value.runId, row.value.nodeId))
      })

    const list = (options: ListOptions = {}) =>
      Effect.gen(function*() {
        const decoded = yield* Schema.decodeUnknown(ListOptions)(options).pipe(
          Effect.mapError((error) => new InvalidDecision({ reason: formatError(error) }))
        )
        const cursor = decoded.cursor
        const after = cursor === undefined ? undefined : yield* decodeCursor(cursor).pipe(
          Effect.mapError(() => new InvalidCursor({ cursor }))
        )
        const limit = decoded.limit ?? 50
        const status = decoded.status === "any"
          ? undefined
          : decoded.status ?? (decoded.decidedBy !== undefined ? undefined : "waiting-approval")
        const order = decoded.order ?? "requested"
        const reviewer = decoded.reviewer
        const rows = yield* approvals.list({
          status,
          workflow: decoded.workflow,
          principals: reviewer === undefined ? undefined : principalsOf(reviewer),
          decidedBy: decoded.decidedBy,
          order,
          after,
          limit
        })
        const records = rows.map((row) => toRecord(row))
        return new ApprovalPage({
          approvals: records,
          ...(records.length === limit ? { cursor: encodeCursor(records[records.length - 1], order) } : {})
        }, true)
      })

    const decide = Decide.make(storage, { votesOf, subjectOf: rowSubject })

    const canDecide = (address: { readonly runId: string; readonly nodeId: string }, reviewer: Reviewer | string) =>
      Effect.gen(function*() {
        const found = yield* approvals.resolve(address.runId, address.nodeId)
        if (Option.isNone(found)) return yield* new ApprovalNotFound(address)
        const row = found.value
        const run = yield* store.getRun(row.runId)
        const runEnded = Option.isNone(run) || Run.isTerminal(run.value.status)
        const votes = yield* votesOf(row.runId, row.nodeId)
        const now = yield* Clock.currentTimeMillis
        return Decision.allowedActions(rowSubject(row, votes, runEnded), reviewerOf(reviewer), now)
      })

    return Approvals.of({
      list: (options) => mapStorage("Approvals.list")(list(options)),
      get: (address) => mapStorage("Approvals.get")(get(address)),
      decide: (input) =>
        mapStorage("Approvals.decide")(decide(input)).pipe(
          Tracing.span("gatehouse.decide", {})
        ),
      canDecide: (address, reviewer) => mapStorage("Approvals.canDecide")(canDecide(address, reviewer))
    })
  }
)

/**
 * The inbox and decisions, on the SQL client in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Approvals, never, SqlClient.SqlClient> = Layer.effect(Approvals, make).pipe(
  Layer.provide(Storage.layer)
)
