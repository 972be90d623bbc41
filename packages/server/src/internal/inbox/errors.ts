/**
 * The inbox's one map from a failure to what the reviewer sees. Every route fails only with `InboxError`
 * (the compiler checks it), and `recover` turns each error, by its type, into its page and status: a bad form
 * or cursor is 400, a refused CSRF token 403, something missing or not the viewer's to see 404, a used or
 * expired action link 410, the database failing 503. A refused decision re-renders the approval's form
 * (`decisionRefusal` gives its status and banner).
 */
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type { ActionLinks, Approvals, Events, Policy, Run, StorageError } from "@gatehouse/engine"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { message, type Viewer } from "./layout.js"
import { page } from "./responses.js"

/** A form or query that could not be read or decoded; `reason` says which field and why. */
export class BadForm extends Data.TaggedError("BadForm")<{ readonly reason: string }> {}

/** A form posted without a valid CSRF token (for the viewer's session, or the sign-in or link page). */
export class CsrfRefused extends Data.TaggedError("CsrfRefused")<{ readonly viewer: Viewer | undefined }> {}

/** A form posted after the session ended. */
export class SignedOut extends Data.TaggedError("SignedOut")<{}> {}

/** Something the viewer may not see: answered as not found, so that it does not say it exists. */
export class NotVisible extends Data.TaggedError("NotVisible")<{ readonly viewer: Viewer }> {}

/** Every failure an inbox route may end with. */
export type InboxError =
  | BadForm
  | CsrfRefused
  | SignedOut
  | NotVisible
  | Approvals.ApprovalNotFound
  | Run.RunNotFound
  | Approvals.InvalidDecision
  | Events.InvalidCursor
  | ActionLinks.ActionLinkRefused
  | StorageError.StorageError

const back = { href: "/inbox", label: "Back to the inbox" }

const notFound = (viewer?: Viewer) =>
  page(message({ title: "Not found", text: "There is no such approval, or you may not see it.", viewer, back }), 404)

const invalid = (text: string) => page(message({ title: "Invalid request", text }), 400)

/** An action link that is unknown (404), used, expired or no longer applicable (410). */
const linkRefused = (error: ActionLinks.ActionLinkRefused) =>
  page(
    message({
      title: "This link cannot be used",
      text: `${error.message} Nothing was decided. Open the inbox to see the request as it is now.`,
      back: { href: "/inbox", label: "Open the inbox" }
    }),
    error.reason === "unknown" ? 404 : 410
  )

/** A route whose every failure is answered by its page. */
export const recover = <R>(
  effect: Effect.Effect<HttpServerResponse.HttpServerResponse, InboxError, R>
): Effect.Effect<HttpServerResponse.HttpServerResponse, never, R> =>
  Effect.catchTags(effect, {
    BadForm: (error) => Effect.succeed(invalid(error.reason)),
    CsrfRefused: (error) =>
      Effect.succeed(page(
        message({
          title: "Request refused",
          text:
            "The form's security token is missing or invalid (CSRF). Nothing was changed. Reload the page and try again.",
          viewer: error.viewer,
          back
        }),
        403
      )),
    SignedOut: () =>
      Effect.succeed(page(message({ title: "Signed out", text: "Your session has ended: sign in again." }), 401)),
    NotVisible: (error) => Effect.succeed(notFound(error.viewer)),
    ApprovalNotFound: () => Effect.succeed(notFound()),
    RunNotFound: () => Effect.succeed(notFound()),
    InvalidDecision: (error) => Effect.succeed(invalid(error.message)),
    InvalidCursor: (error) => Effect.succeed(invalid(error.message)),
    ActionLinkRefused: (error) => Effect.succeed(linkRefused(error)),
    StorageError: (error) =>
      Effect.as(
        Effect.logError("inbox: storage failure", error),
        page(message({ title: "Unavailable", text: "The database could not serve the request. Try again." }), 503)
      )
  })

/** The refusals of `Approvals.decide` that the approval page shows above its form, for another try. */
export type DecisionRefusal =
  | Approvals.StaleApproval
  | Approvals.InvalidDecision
  | Approvals.NotAuthorized
  | Approvals.DecisionConflict
  | Policy.PolicyChanged

/** The status and banner of the approval page re-rendered after a refused decision. */
export const decisionRefusal = (error: DecisionRefusal): {
  readonly status: number
  readonly banner: { readonly kind: "stale" | "error"; readonly text: string }
} => {
  switch (error._tag) {
    case "StaleApproval":
      return {
        status: 409,
        banner: {
          kind: "stale",
          text:
            "This request changed since you opened it. Nothing was recorded. Review the new content below and decide again."
        }
      }
    case "InvalidDecision":
      return { status: 400, banner: { kind: "error", text: `Nothing was recorded: ${error.reason}` } }
    case "NotAuthorized":
      return { status: 403, banner: { kind: "error", text: `Nothing was recorded: ${error.reason}` } }
    case "DecisionConflict":
    case "PolicyChanged":
      return { status: 409, banner: { kind: "error", text: `Nothing was recorded: ${error.message}` } }
  }
}
