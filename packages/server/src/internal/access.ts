/**
 * What a principal may read or do at the HTTP surface. Decisions themselves are authorized by the
 * engine (`Approvals.decide`); these checks only guard reads and operator actions.
 */
import type { Approvals, Run } from "@gatehouse/engine"
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

/**
 * Whether the principal is among the approval's reviewers (an approval that names none is anyone's).
 * Mirrors the engine's check in `Approvals.decide`; to be replaced by the engine's pure "what may this
 * reviewer do" function once it exists.
 */
export const isReviewer = (principal: Principal, approval: Approvals.ApprovalRecord): boolean => {
  const { roles, users } = approval.reviewers
  return (users.length === 0 && roles.length === 0) || users.includes(principal.id) ||
    principal.roles.some((role) => roles.includes(role))
}

export const requireReviewer = (
  principal: Principal,
  approval: Approvals.ApprovalRecord
): Effect.Effect<void, Forbidden> =>
  isOperator(principal) || isReviewer(principal, approval)
    ? Effect.void
    : Effect.fail(new Forbidden({ principal: principal.id, reason: "not among the approval's reviewers" }))

/** Operators read every run; anyone else only the runs it started. */
export const requireRunReader = (principal: Principal, run: Run.Summary): Effect.Effect<void, Forbidden> =>
  isOperator(principal) || run.startedBy === principal.id
    ? Effect.void
    : Effect.fail(new Forbidden({ principal: principal.id, reason: "only operators and whoever started the run read it" }))
