/**
 * The failures of a `gatehouse` command, each with its own exit code and a message that says what to do.
 * Every engine error, HTTP error and connection failure becomes one of these, so a script can tell "no
 * such run" from "someone decided first" from "the database is down" by the exit code alone.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"

/**
 * The exit codes, documented in the README and docs/cli.md; they never change meaning.
 *
 * @since 0.1.0
 * @category exit codes
 */
export const ExitCode = {
  ok: 0,
  /** Anything unexpected (a bug; the message says what happened). */
  failure: 1,
  /** A bad argument or option, an ambiguous approval, a payload that does not parse or validate. */
  "invalid-input": 2,
  /** No such run, approval or workflow. */
  "not-found": 3,
  /** Another decision won, the deadline passed, the run ended, a resume of a run that has not failed or been canceled. */
  conflict: 4,
  /** The approval changed since it was read (a new revision). */
  stale: 5,
  /** Not a reviewer of the approval, a bad or missing token, a role the server does not grant. */
  "not-authorized": 6,
  /** The database or server could not be reached or did not answer. */
  unreachable: 7,
  /** `audit verify` found an edited, missing or reordered entry. */
  "verification-failed": 8,
  /**
   * The policy that required the approval changed since it was requested and no longer requires this
   * decision from these reviewers: nothing was recorded (the approval was re-issued or ended).
   */
  "policy-changed": 9
} as const

/**
 * @since 0.1.0
 * @category models
 */
export type Kind = Exclude<keyof typeof ExitCode, "ok">

/**
 * @since 0.1.0
 * @category errors
 */
export class CliError extends Data.TaggedError("CliError")<{
  readonly kind: Kind
  readonly message: string
  /** What to do about it, printed on its own line. */
  readonly hint?: string | undefined
  /** Extra data for `--json` error output (the candidates of an ambiguous approval). */
  readonly details?: unknown
}> {
  /**
   * @since 0.1.0
   */
  get exitCode(): number {
    return ExitCode[this.kind]
  }
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  kind: Kind,
  message: string,
  hint?: string | undefined,
  details?: unknown
): CliError => new CliError({ kind, message, hint, details })

/**
 * @since 0.1.0
 * @category refinements
 */
export const isCliError = (u: unknown): u is CliError => u instanceof CliError
