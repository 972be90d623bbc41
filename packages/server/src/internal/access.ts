/**
 * What a principal may read or do at the HTTP surface. Decisions themselves are authorized by the
 * engine (`Approvals.decide`); these checks only guard reads and operator actions.
 */
import { Approvals, type Run } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import { Forbidden } from "../api/Errors.js"
import { deferredsRole, isOperator, type Principal, starterRole } from "../Authentication.js"

export const requireOperator = (principal: Principal): Effect.Effect<void, Forbidden> =>
  isOperator(principal)
    ? Effect.void
    : Effect.fail(new Forbidden({ principal: principal.id, reason: "this needs the operator role" }))

export const requireStarter = (principal: Principal): Effect.Effect<void, Forbidden> =>
  isOperator(principal) || principal.roles.includes(starterRole)
    ? Effect.void
    : Effect.fail(new Forbidden({ principal: principal.id, reason: "starting a workflow needs the operator or starter role" }))

export const requireDeferredCompleter = (principal: Principal): Effect.Effect<void, Forbidden> =>
  isOperator(principal) || principal.roles.includes(deferredsRole)
    ? Effect.void
    : Effect.fail(
      new Forbidden({ principal: principal.id, reason: "completing a deferred needs the operator or deferreds role" })
    )

/** A principal as the engine's rules take a reviewer. */
export const reviewerOf = (
  principal: { readonly id: string; readonly roles: ReadonlyArray<string> }
): Approvals.Reviewer => ({ id: principal.id, roles: principal.roles })

/** Operators read every approval; anyone else only those the engine assigns it (`Approvals.isReviewer`). */
export const requireReviewer = (
  principal: Principal,
  approval: Approvals.ApprovalRecord
): Effect.Effect<void, Forbidden> =>
  isOperator(principal) || Approvals.isReviewer(approval, reviewerOf(principal))
    ? Effect.void
    : Effect.fail(new Forbidden({ principal: principal.id, reason: "not among the approval's reviewers" }))

/**
 * Whether the inbox shows an approval to a principal: operators, its reviewers (`Approvals.isReviewer`), and
 * whoever voted on it or decided it.
 */
export const mayReadApproval = (principal: Principal, approval: Approvals.ApprovalRecord): boolean =>
  isOperator(principal) || Approvals.isReviewer(approval, reviewerOf(principal)) ||
  (approval.votes ?? []).some((vote) => vote.voter === principal.id) ||
  (approval.decision as { decidedBy?: string } | undefined)?.decidedBy === principal.id

/** Operators read every run; anyone else only the runs it started. */
export const requireRunReader = (principal: Principal, run: Run.Summary): Effect.Effect<void, Forbidden> =>
  isOperator(principal) || run.startedBy === principal.id
    ? Effect.void
    : Effect.fail(new Forbidden({ principal: principal.id, reason: "only operators and whoever started the run read it" }))
