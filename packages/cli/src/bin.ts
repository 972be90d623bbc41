/**
 * The executable: `gatehouse <command>`. A failure prints its message and what to do on stderr (a JSON
 * document with `--json`) and exits with its kind's code (see `CliError.ExitCode`). A usage error (a bad
 * option value, a missing option, an unknown command) is one of them too: `gatehouse: <what>` naming the
 * option or the command, with the help to read, exit 2; @effect/cli's own text for it is not printed.
 * Colour codes are only written to a terminal.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as HashMap from "effect/HashMap"
import * as HashSet from "effect/HashSet"
import * as Option from "effect/Option"
import * as CliError from "./CliError.js"
import { commands, gatehouse } from "./Cli.js"

const args = process.argv.slice(2)
const jsonOutput = args.includes("--json")

const stripAnsi = (text: string): string => text.replace(/\u001b\[[0-9;]*m/g, "")

const plain = (stream: NodeJS.WriteStream): boolean =>
  stream.isTTY !== true || process.env.NO_COLOR !== undefined || process.env.TERM === "dumb"

const cleaned = (stream: NodeJS.WriteStream, values: ReadonlyArray<unknown>): ReadonlyArray<unknown> =>
  plain(stream) ? values.map((value) => typeof value === "string" ? stripAnsi(value) : value) : values

// @effect/cli prints a usage error itself (on stderr, before failing with it) while it parses the command
// line; what it prints then is held back, and `report` says it in gatehouse's words instead. Once a command
// runs, its stderr goes out as it is written.
let running = false
const heldBack: Array<ReadonlyArray<unknown>> = []

const terminalConsole = Effect.map(Effect.console, (base): Console.Console => ({
  ...base,
  log: (...values) => base.log(...cleaned(process.stdout, values)),
  error: (...values) =>
    running ? base.error(...cleaned(process.stderr, values)) : Effect.sync(() => void heldBack.push(values)),
  unsafe: {
    ...base.unsafe,
    log: (...values) => base.unsafe.log(...cleaned(process.stdout, values)),
    error: (...values) => base.unsafe.error(...cleaned(process.stderr, values))
  }
}))

const run = Command.run(
  gatehouse.pipe(Command.transformHandler((effect) => Effect.zipRight(Effect.sync(() => (running = true)), effect))),
  { name: "gatehouse", version: "0.1.0" }
)

/** The command groups and their subcommands' names: `runs` → `list`, `inspect`, `cancel`; a leaf has none. */
const tree = new Map((commands as ReadonlyArray<Command.Command<string, any, any, any>>).map((command) => {
  const name = [...HashSet.values(Command.getNames(command))][0]
  return [name, [...HashMap.keys(Command.getSubcommands(command))].filter((child) => child !== name).sort()] as const
}))

/** The command the arguments name (`runs cancel`), the token after it, and the subcommands it has. */
const commandOf = (): { readonly path: ReadonlyArray<string>; readonly next?: string; readonly children: ReadonlyArray<string> } => {
  const [first, second] = args
  if (first === undefined || !tree.has(first)) return { path: [], ...(first !== undefined ? { next: first } : {}), children: [...tree.keys()] }
  const children = tree.get(first)!
  if (second === undefined || !children.includes(second)) {
    return { path: [first], ...(second !== undefined ? { next: second } : {}), children }
  }
  return { path: [first, second], children: [] }
}

/** A usage error of @effect/cli as a `CliError` (invalid input) that names the option or the command. */
const usageError = (error: ValidationError.ValidationError): CliError.CliError => {
  const text = stripAnsi(HelpDoc.toAnsiText(error.error)).trim().replace(/\s*\n\s*/g, " ")
  const { children, next, path } = commandOf()
  const name = ["gatehouse", ...path].join(" ")
  const help = `see \`${name} --help\``
  if (error._tag === "CommandMismatch" || text.startsWith("Invalid subcommand")) {
    if (next !== undefined && !next.startsWith("-") && children.length > 0) {
      return CliError.make(
        "invalid-input",
        `unknown command '${[...path, next].join(" ")}'`,
        `${name} has: ${children.join(", ")}; ${help}`
      )
    }
    if (path.length > 0 && children.length > 0) {
      return CliError.make("invalid-input", `${path.join(" ")} takes a command first: ${children.join(", ")}`, help)
    }
  }
  const missing = /^Expected to find option: '(.+)'$/.exec(text)
  if (missing !== null) return CliError.make("invalid-input", `${name.slice("gatehouse ".length)} needs ${missing[1]}`, help)
  const unknown = /^Received unknown argument: '(.+)'$/.exec(text)
  if (unknown !== null) {
    return CliError.make("invalid-input", `unknown argument '${unknown[1]}' for ${path.length === 0 ? "gatehouse" : path.join(" ")}`, help)
  }
  // The option helpers' own messages name the option already (`--limit takes …`).
  if (text.startsWith("--")) return CliError.make("invalid-input", text, help)
  const notA = /^'(.*)' is not a (.+)$/.exec(text)
  if (notA !== null) {
    const at = args.findIndex((arg, index) => arg === notA[1] && args[index - 1]?.startsWith("-"))
    const flag = at > 0 ? args[at - 1] : args.find((arg) => arg.endsWith(`=${notA[1]}`))?.split("=")[0]
    const type = /^[aeiou]/.test(notA[2]) ? `an ${notA[2]}` : `a ${notA[2]}`
    return CliError.make("invalid-input", `${flag ?? "a value"} takes ${type}, not '${notA[1]}'`, help)
  }
  return CliError.make("invalid-input", path.length === 0 ? text : `${path.join(" ")}: ${text}`, help)
}

const failureOf = (cause: Cause.Cause<unknown>): Option.Option<unknown> => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure) && ValidationError.isValidationError(failure.value)) {
    return ValidationError.isHelpRequested(failure.value) ? Option.none() : Option.some(usageError(failure.value))
  }
  return failure
}

const report = (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  const failure = failureOf(cause)
  if (Option.isSome(failure) && CliError.isCliError(failure.value)) {
    const error = failure.value
    return jsonOutput
      ? Console.error(JSON.stringify({
        error: { kind: error.kind, exitCode: error.exitCode, message: error.message, hint: error.hint, details: error.details }
      }))
      : Console.error(`gatehouse: ${error.message}${error.hint !== undefined ? `\n  ${error.hint}` : ""}`)
  }
  if (Cause.isInterruptedOnly(cause)) return Effect.void
  return Effect.zipRight(
    Effect.forEach(heldBack, (values) => Console.error(...values), { discard: true }),
    Option.isNone(failure) && Cause.isFailType(cause) ?
      Effect.void :
      Console.error(`gatehouse: unexpected failure (a bug; please report it):\n${Cause.pretty(cause)}`)
  )
}

const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause)) return CliError.ExitCode.ok
  const failure = Cause.failureOption(exit.cause)
  // A help request that ended in a failure: the help was printed.
  if (Option.isSome(failure) && ValidationError.isValidationError(failure.value) && ValidationError.isHelpRequested(failure.value)) {
    return CliError.ExitCode.ok
  }
  const reported = failureOf(exit.cause)
  if (Option.isSome(reported) && CliError.isCliError(reported.value)) return reported.value.exitCode
  return CliError.ExitCode.failure
}

Effect.suspend(() => run(process.argv)).pipe(
  Effect.tapErrorCause((cause) => Effect.zipRight(Effect.sync(() => (running = true)), report(cause))),
  (program) => Effect.flatMap(terminalConsole, (wrapped) => Effect.withConsole(program, wrapped)),
  Effect.provide(NodeContext.layer),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    teardown: (exit, onExit) => onExit(exitCodeOf(exit))
  })
)
