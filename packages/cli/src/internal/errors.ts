/**
 * One mapping from the engine's and the HTTP API's errors to the CLI's kinds and messages: the database
 * and the server backends fail alike because both go through here.
 */
import * as Predicate from "effect/Predicate"
import * as CliError from "../CliError.js"

const field = (error: unknown, name: string): string =>
  Predicate.hasProperty(error, name) ? String(error[name]) : "?"

const messageOf = (error: unknown): string =>
  Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== ""
    ? error.message
    : String(error)

/** A typed error of the engine or the server (by its `_tag`) as a `CliError`; `where` names the target. */
export const fromTagged = (error: unknown, where: string): CliError.CliError => {
  if (CliError.isCliError(error)) return error
  const tag = Predicate.hasProperty(error, "_tag") ? String(error._tag) : ""
  const message = messageOf(error)
  switch (tag) {
    case "RunNotFound":
      return CliError.make("not-found", message, "`gatehouse runs list` shows the runs there are")
    case "ApprovalNotFound":
      return CliError.make(
        "not-found",
        message,
        `\`gatehouse why ${field(error, "runId")}\` shows what the run waits on; \`gatehouse approvals list\` the open approvals`
      )
    case "WorkflowNotFound":
      return CliError.make("not-found", message)
    case "DecisionConflict":
      return CliError.make(
        "conflict",
        message,
        `\`gatehouse approvals show ${field(error, "runId")} --node ${field(error, "nodeId")}\` shows the decision that stands`
      )
    case "RunNotActive":
      return CliError.make("conflict", message)
    case "RunNotResumable":
      return CliError.make(
        "conflict",
        message,
        `\`gatehouse runs inspect ${field(error, "runId")}\` shows where it stands; \`gatehouse runs fork ${field(error, "runId")} --reason TEXT\` starts a new run from it`
      )
    case "PolicyChanged":
      return CliError.make(
        "policy-changed",
        message,
        `the policy changed since the approval was requested; \`gatehouse why ${field(error, "runId")}\` shows what the run waits on now`
      )
    case "PolicyDenied":
      return CliError.make("not-authorized", message, "the active policy denies this")
    case "Throttled":
      return CliError.make("conflict", message, "the policy throttles this: retry later")
    case "StaleApproval":
      return CliError.make(
        "stale",
        message,
        `read it again with \`gatehouse approvals show ${field(error, "runId")} --node ${field(error, "nodeId")}\` and decide on what is current`
      )
    case "NotAuthorized":
      return CliError.make("not-authorized", message, "`gatehouse why` lists who may still sign")
    case "Unauthenticated":
      return CliError.make(
        "not-authorized",
        `${where} refused the token: ${message}`,
        "give a valid API token with --token or GATEHOUSE_TOKEN"
      )
    case "Forbidden":
      return CliError.make("not-authorized", message, "ask an operator, or use a token with the role this needs")
    case "InvalidDecision":
    case "InvalidPolicy":
    case "InvalidPolicyRequest":
    case "InvalidRequest":
    case "InvalidPayload":
    case "InvalidCursor":
    case "InvalidRunnerOptions":
    case "BadRequest":
    case "PayloadTooLarge":
      return CliError.make("invalid-input", message)
    case "StorageError":
    case "StorageUnavailable":
    case "NotReady":
      return CliError.make("unreachable", `${where} could not serve the request: ${message}`, "retry once it is back")
    default:
      return CliError.make("failure", message)
  }
}
