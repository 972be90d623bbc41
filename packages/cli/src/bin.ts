/**
 * The executable: `gatehouse <command>`. A failure prints its message and what to do on stderr (a JSON
 * document with `--json`) and exits with its kind's code (see `CliError.ExitCode`).
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as CliError from "./CliError.js"
import { run } from "./Cli.js"

const jsonOutput = process.argv.includes("--json")

const report = (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && CliError.isCliError(failure.value)) {
    const error = failure.value
    return jsonOutput
      ? Console.error(JSON.stringify({
        error: { kind: error.kind, exitCode: error.exitCode, message: error.message, hint: error.hint, details: error.details }
      }))
      : Console.error(`gatehouse: ${error.message}${error.hint !== undefined ? `\n  ${error.hint}` : ""}`)
  }
  // @effect/cli has printed the usage error and the help already.
  if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) return Effect.void
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  return Console.error(`gatehouse: unexpected failure (a bug; please report it):\n${Cause.pretty(cause)}`)
}

const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return CliError.ExitCode.ok
  const failure = Cause.failureOption(exit.cause)
  if (Option.isSome(failure) && CliError.isCliError(failure.value)) return failure.value.exitCode
  if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) {
    return ValidationError.isHelpRequested(failure.value) ? CliError.ExitCode.ok : CliError.ExitCode["invalid-input"]
  }
  return CliError.ExitCode.failure
}

run(process.argv).pipe(
  Effect.tapErrorCause(report),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) => onExit(exitCodeOf(exit))
  })
)
