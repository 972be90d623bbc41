/**
 * The policy group: the active policy and its history, activation (operators), and the tools for people
 * who write policy — validate, explain, simulate and backtest — plus the evaluations recorded on a run.
 *
 * @since 0.1.0
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Policies, Policy, Run } from "@gatehouse/engine"
import * as Schema from "effect/Schema"
import { Authentication } from "../Authentication.js"
import { PathSegment } from "../internal/pathSegment.js"
import { BadRequest, Forbidden, StorageUnavailable } from "./Errors.js"

const runId = HttpApiSchema.param("runId", PathSegment)

/**
 * A policy document: the document itself (JSON), or its text in YAML or JSON.
 *
 * @since 0.1.0
 * @category models
 */
export const DocumentBody = Schema.Struct({
  document: Schema.Union(Schema.String, Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})

/**
 * @since 0.1.0
 * @category models
 */
export const ActivePolicy = Schema.Struct({
  /** Absent until a policy is activated; nothing is evaluated until then. */
  policy: Schema.optional(Policies.Activation)
})

/**
 * @since 0.1.0
 * @category models
 */
export const Validated = Schema.Struct({
  snapshotId: Schema.String,
  version: Schema.String,
  rules: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export const Explained = Schema.Struct({
  /** Absent when no policy is active (everything is allowed). */
  evaluation: Schema.optional(Policy.Evaluation)
})

/**
 * @since 0.1.0
 * @category models
 */
export const BacktestBody = Schema.Struct({
  ...DocumentBody.fields,
  days: Schema.optional(Schema.Number.pipe(Schema.greaterThan(0), Schema.lessThanOrEqualTo(3660))),
  limit: Schema.optional(Schema.Int.pipe(Schema.between(1, 1_000_000)))
})

/**
 * @since 0.1.0
 * @category groups
 */
export class PolicyApi extends HttpApiGroup.make("policy")
  .add(
    HttpApiEndpoint.get("show", "/v1/policy")
      .addSuccess(ActivePolicy)
      .annotate(OpenApi.Summary, "The active policy, with who activated it and when")
  )
  .add(
    HttpApiEndpoint.put("activate", "/v1/policy")
      .setPayload(DocumentBody)
      .addSuccess(Policies.Activation)
      .addError(Policy.InvalidPolicy, { status: 400 })
      .addError(Policies.InvalidPolicyRequest, { status: 400 })
      .annotate(OpenApi.Summary, "Validate a policy and make it the active one (operators; audited)")
  )
  .add(
    HttpApiEndpoint.get("history", "/v1/policy/history")
      .addSuccess(Schema.Array(Policies.Activation))
      .annotate(OpenApi.Summary, "Activations, latest first")
  )
  .add(
    HttpApiEndpoint.post("validate", "/v1/policy/validate")
      .setPayload(DocumentBody)
      .addSuccess(Validated)
      .addError(Policy.InvalidPolicy, { status: 400 })
      .annotate(OpenApi.Summary, "Validate a policy document without activating it")
  )
  .add(
    HttpApiEndpoint.post("explain", "/v1/policy/explain")
      .setPayload(Schema.Struct({ action: Schema.Unknown }))
      .addSuccess(Explained)
      .addError(Policies.InvalidPolicyRequest, { status: 400 })
      .annotate(OpenApi.Summary, "Which rules of the active policy match an action, in order, and which decides")
  )
  .add(
    HttpApiEndpoint.post("simulate", "/v1/policy/simulate")
      .setPayload(Schema.Struct({ ...DocumentBody.fields, action: Schema.Unknown }))
      .addSuccess(Policy.Evaluation)
      .addError(Policy.InvalidPolicy, { status: 400 })
      .addError(Policies.InvalidPolicyRequest, { status: 400 })
      .annotate(OpenApi.Summary, "A draft policy against one action")
  )
  .add(
    HttpApiEndpoint.post("backtest", "/v1/policy/backtest")
      .setPayload(BacktestBody)
      .addSuccess(Policies.Backtest)
      .addError(Policy.InvalidPolicy, { status: 400 })
      .addError(Policies.InvalidPolicyRequest, { status: 400 })
      .annotate(OpenApi.Summary, "A draft policy over the actions recorded in the last days (reads only)")
  )
  .add(
    HttpApiEndpoint.get("evaluations")`/v1/runs/${runId}/policy`
      .addSuccess(Schema.Array(Policies.RecordedEvaluation))
      .addError(Run.RunNotFound, { status: 404 })
      .annotate(OpenApi.Summary, "The policy evaluations recorded on a run, in order")
  )
  .addError(Forbidden)
  .addError(BadRequest)
  .addError(StorageUnavailable)
  .middleware(Authentication)
{}
