/**
 * Approvals inside a workflow: an explicit, durable pause with a request record that a person decides.
 * While it is undecided the run is `waiting-approval` and nothing of it is in memory; the decision
 * resumes it exactly once, in any process.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Schema from "effect/Schema"
import * as internal from "./internal/approvalRequest.js"
import * as Step from "./Step.js"
import type { WorkflowInstance } from "./WorkflowInstance.js"

export {
  /**
   * @since 0.1.0
   * @category errors
   */
  ApprovalDenied,
  /**
   * @since 0.1.0
   * @category errors
   */
  ApprovalTimedOut
} from "./Run.js"

/**
 * Who may decide. With neither `users` nor `roles`, anyone may. `quorum` distinct approvals are needed
 * (default 1); `denyQuorum` denials decide a denial (default 1: one deny decides). Whoever started the
 * run cannot approve it unless `allowSelfApproval`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reviewers {
  readonly users?: ReadonlyArray<string> | undefined
  readonly roles?: ReadonlyArray<string> | undefined
  readonly quorum?: number | undefined
  readonly denyQuorum?: number | undefined
  readonly allowSelfApproval?: boolean | undefined
}

/**
 * What the reviewer is shown and how the decision is handled.
 *
 * @since 0.1.0
 * @category models
 */
export interface Request<P = never> {
  /** Text without NUL characters, like the summary and reviewer names; else the run fails with `InvalidNode`. */
  readonly title: string
  readonly summary?: string | undefined
  /** JSON: what the reviewer needs to decide. */
  readonly metadata?: Record<string, unknown> | undefined
  /** JSON: the output under review, stored with the request. */
  readonly reviewed?: unknown
  /** Schema of the extra payload an approval carries (an approved amount). Must be expressible as JSON Schema. */
  readonly decision?: Schema.Schema<P, any> | undefined
  /** `"fail"` (default) ends the run on a denial; `"continue"` returns the denial to the workflow. */
  readonly onDeny?: "fail" | "continue" | undefined
  /** A deadline that cannot be stored (`Duration.infinity`) fails the run with `InvalidNode`. */
  readonly timeout?: Duration.DurationInput | undefined
  /** At the deadline: count it as a denial (default), fail the run, or re-assign once to other reviewers. */
  readonly onTimeout?:
    | "deny"
    | "fail"
    | { readonly escalateTo: Reviewers; readonly timeout: Duration.DurationInput }
    | undefined
  readonly reviewers?: Reviewers | undefined
  /**
   * Reminders while the approval is pending: an `approval.reminder` event `after` the request, then every
   * `every`, none from `until` after the request on, none at or after the deadline, none once decided.
   * Stored with the request (durable timers); emitted by a process running the `WebhookDispatcher`.
   */
  readonly remind?: {
    readonly after: Duration.DurationInput
    readonly every?: Duration.DurationInput | undefined
    readonly until?: Duration.DurationInput | undefined
  } | undefined
  /**
   * How long a decision holds when a repaired run (`Workflows.resume`, `Workflows.fork`) replays this
   * approval, counted from the decision: past it, the reviewers are asked again. Without it a decision
   * holds as long as the request, its policy and its reviewer are unchanged.
   */
  readonly validFor?: Duration.DurationInput | undefined
}

/**
 * How an approval ended.
 *
 * @since 0.1.0
 * @category models
 */
export type Outcome = "approved" | "denied" | "changes-requested" | "timed-out"

/**
 * The recorded decision.
 *
 * @since 0.1.0
 * @category models
 */
export interface ApprovalDecision<P = never> {
  readonly approved: boolean
  readonly outcome: Outcome
  readonly note?: string | undefined
  readonly decidedBy: string
  /** Epoch milliseconds, from the deciding process's `Clock`. */
  readonly decidedAt: number
  readonly payload?: P | undefined
}

/**
 * Asks for a decision and waits for it durably. With `onDeny: "fail"` (the default) a denial ends the
 * run `failed` with `ApprovalDenied` and nothing after this point runs; with `"continue"` the denial is
 * returned and the workflow branches on `approved`.
 *
 * @example
 * ```ts
 * import { Approval } from "@gatehouse/engine"
 * import { Effect, Schema } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const decision = yield* Approval.request("refund-decision", {
 *     title: "Refund 120 EUR to Ada?",
 *     summary: "Customer is inside the refund window.",
 *     metadata: { ticketId: "T-1", amount: 120 },
 *     decision: Schema.Struct({ approvedAmount: Schema.Number }),
 *     onDeny: "continue",
 *     timeout: "7 days",
 *     reviewers: { roles: ["finance"] }
 *   })
 *   return decision.approved ? decision.payload?.approvedAmount ?? 0 : 0
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const request = <P = never>(id: string, request: Request<P>): Effect.Effect<ApprovalDecision<P>, never, WorkflowInstance> =>
  internal.request(id, request) as Effect.Effect<ApprovalDecision<P>, never, WorkflowInstance>

/**
 * An optional part of a workflow behind an approval: approved, `protected` runs and its result is
 * returned in `Some`; denied (or timed out), it is skipped with `None` and the run goes on.
 *
 * @since 0.1.0
 * @category constructors
 */
export const gate = <P, A, E, R>(
  id: string,
  options: Omit<Request<P>, "onDeny">,
  protectedEffect: Effect.Effect<A, E, R>
): Effect.Effect<Option.Option<A>, E, R | WorkflowInstance> =>
  Effect.flatMap(
    request(id, { ...options, onDeny: "continue" }),
    (decision) => decision.approved ? Effect.map(protectedEffect, Option.some) : Effect.succeed(Option.none())
  )

/**
 * The result of a review: the output that was finally decided on, the decision and its revision.
 *
 * @since 0.1.0
 * @category models
 */
export interface Reviewed<A, P> {
  readonly output: A
  readonly decision: ApprovalDecision<P>
  readonly revision: number
}

/**
 * Produce, review, redo: `produce` runs as a step and its output goes to the reviewer; a
 * `request-changes` decision with a note runs `produce` again as a new revision with that feedback.
 * Each revision is its own pair of nodes (`id#1/produce`, `id#1`, `id#2/produce`, `id#2`, …). After
 * `maxRevisions` (default 3) revisions, reviewers can only approve or deny.
 *
 * @since 0.1.0
 * @category constructors
 */
export const review = <A, E, R, P = never>(
  id: string,
  options: {
    readonly produce: (feedback: string | undefined, revision: number) => Effect.Effect<A, E, R>
    readonly request: (output: A) => Request<P>
    readonly maxRevisions?: number | undefined
    /** How the produced output is stored; without it the output must be plain JSON. */
    readonly output?: Schema.Schema<A, any> | undefined
  }
): Effect.Effect<Reviewed<A, P>, E, Exclude<R, Step.StepContext> | WorkflowInstance> =>
  Effect.gen(function*() {
    const maxRevisions = Math.max(1, options.maxRevisions ?? 3)
    let feedback: string | undefined = undefined
    for (let revision = 1;; revision++) {
      const output: A = yield* Step.run(`${id}#${revision}/produce`, options.produce(feedback, revision), {
        success: options.output
      })
      const decision: ApprovalDecision<P> = yield* internal.request(`${id}#${revision}`, options.request(output), {
        baseId: id,
        revision,
        allowRequestChanges: revision < maxRevisions,
        maxRevisions
      }) as Effect.Effect<ApprovalDecision<P>, never, WorkflowInstance>
      if (decision.outcome !== "changes-requested") return { output, decision, revision }
      feedback = decision.note
    }
  })
