/**
 * The approvals group: the reviewer's inbox, one approval with its request context, and the decision.
 *
 * @since 0.1.0
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Approvals, Policy } from "@gatehouse/engine"
import * as Schema from "effect/Schema"
import { PathSegment } from "../internal/pathSegment.js"
import { Authentication } from "../Authentication.js"
import { BadRequest, Forbidden, StorageUnavailable } from "./Errors.js"

const runId = HttpApiSchema.param("runId", PathSegment)
const nodeId = HttpApiSchema.param("nodeId", PathSegment)

/**
 * The query of the inbox. `reviewer` defaults to the caller; an operator may name another reviewer, or
 * `*` for every approval. `order` is `requested` (oldest first, the default), `newest` or `deadline`.
 *
 * @since 0.1.0
 * @category models
 */
export const InboxParams = Schema.Struct({
  status: Schema.optional(Approvals.ApprovalStatus),
  reviewer: Schema.optional(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200))),
  workflow: Schema.optional(Schema.String.pipe(Schema.maxLength(200))),
  order: Schema.optional(Approvals.ListOrder),
  cursor: Schema.optional(Schema.String.pipe(Schema.maxLength(1000))),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 500)))
})

/**
 * A page of the inbox: the engine's own `ApprovalPage`.
 *
 * @since 0.1.0
 * @category models
 */
export const ApprovalPage: typeof Approvals.ApprovalPage = Approvals.ApprovalPage

/**
 * A decision as the reviewer submits it. The reviewer is always the authenticated principal.
 *
 * @since 0.1.0
 * @category models
 */
export const DecisionBody = Schema.Struct({
  verdict: Approvals.Verdict,
  note: Schema.optional(Schema.String),
  payload: Schema.optional(Schema.Unknown)
})

/**
 * The outcome of a decision: `decided`, `already-decided` (the same verdict had already won: nothing
 * changed) or `vote-recorded` (under a quorum). The engine's own `DecideResult`.
 *
 * @since 0.1.0
 * @category models
 */
export const DecideResponse: typeof Approvals.DecideResult = Approvals.DecideResult

/**
 * `If-Match`: the request hash (the approval's `ETag`) the reviewer saw; a newer one is 412.
 *
 * @since 0.1.0
 * @category models
 */
export const DecisionHeaders = Schema.Struct({
  "if-match": Schema.optional(Schema.String.pipe(Schema.maxLength(200)))
})

/**
 * @since 0.1.0
 * @category groups
 */
export class ApprovalsApi extends HttpApiGroup.make("approvals")
  .add(
    HttpApiEndpoint.get("inbox", "/v1/approvals")
      .setUrlParams(InboxParams)
      .addSuccess(ApprovalPage)
      .addError(Approvals.InvalidDecision, { status: 400 })
      .addError(Approvals.InvalidCursor, { status: 400 })
      .annotate(OpenApi.Summary, "The approvals a reviewer may decide, oldest first")
  )
  .add(
    HttpApiEndpoint.get("get")`/v1/runs/${runId}/approvals/${nodeId}`
      .addSuccess(Approvals.ApprovalRecord)
      .addError(Approvals.ApprovalNotFound, { status: 404 })
      .annotate(OpenApi.Summary, "One approval with its request context, votes and deadline; ETag is its request hash")
  )
  .add(
    HttpApiEndpoint.post("decide")`/v1/runs/${runId}/approvals/${nodeId}/decision`
      .setPayload(DecisionBody)
      .setHeaders(DecisionHeaders)
      .addSuccess(DecideResponse)
      .addError(Approvals.InvalidDecision, { status: 400 })
      .addError(Approvals.NotAuthorized, { status: 403 })
      .addError(Approvals.ApprovalNotFound, { status: 404 })
      .addError(Approvals.DecisionConflict, { status: 409 })
      .addError(Policy.PolicyChanged, { status: 409 })
      .addError(Approvals.StaleApproval, { status: 412 })
      .annotate(OpenApi.Summary, "Approve, deny or request changes, as the authenticated principal")
  )
  .addError(Forbidden)
  .addError(BadRequest)
  .addError(StorageUnavailable)
  .middleware(Authentication)
{}
