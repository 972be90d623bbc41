/**
 * Options every command that reads or changes runs shares: where to connect (`--database`, or `--server`
 * with `--token`) and `--json`; and the one place that turns them into the `Backend`.
 *
 * @since 0.1.0
 */
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { Backend, layerDatabase, layerServer } from "../Backend.js"
import * as CliError from "../CliError.js"

/**
 * `--database PATH|URL` (or `GATEHOUSE_DATABASE_URL`), `--server URL` (or `GATEHOUSE_SERVER_URL`) and
 * `--token T` (or `GATEHOUSE_TOKEN`, which keeps the token out of the process list).
 *
 * @since 0.1.0
 * @category options
 */
export const connection = {
  database: Options.text("database").pipe(
    Options.withDescription("a SQLite file path (or sqlite:PATH) or a postgres:// URL; default GATEHOUSE_DATABASE_URL"),
    Options.optional
  ),
  server: Options.text("server").pipe(
    Options.withDescription("the URL of a running `gatehouse serve`; default GATEHOUSE_SERVER_URL"),
    Options.optional
  ),
  token: Options.redacted("token").pipe(
    Options.withDescription("the API token for --server; default GATEHOUSE_TOKEN"),
    Options.optional
  )
} as const

const invalid = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

/**
 * `--NAME N`: a whole number, optionally within bounds. A bad value is refused with a message that names
 * the option and what it accepts (exit 2), not @effect/cli's "'x' is not a integer".
 *
 * @since 0.1.0
 * @category options
 */
export const integerOption = (
  name: string,
  bounds: { readonly min?: number | undefined; readonly max?: number | undefined } = {}
): Options.Options<number> =>
  Options.text(name).pipe(
    Options.withPseudoName("integer"),
    Options.mapEffect((text) => {
      const value = /^\s*-?\d+\s*$/.test(text) ? Number(text) : Number.NaN
      const range = bounds.min !== undefined && bounds.max !== undefined
        ? ` from ${bounds.min} to ${bounds.max}`
        : bounds.min !== undefined
        ? ` of at least ${bounds.min}`
        : bounds.max !== undefined
        ? ` of at most ${bounds.max}`
        : ""
      return Number.isSafeInteger(value) && (bounds.min === undefined || value >= bounds.min) &&
          (bounds.max === undefined || value <= bounds.max)
        ? Effect.succeed(value)
        : invalid(`--${name} takes a whole number${range}, not '${text}'`)
    })
  )

/**
 * `--NAME VALUE`, one of `choices`. A bad value is refused with a message that names the option and lists
 * the allowed values (exit 2).
 *
 * @since 0.1.0
 * @category options
 */
export const choiceOption = <const A extends ReadonlyArray<string>>(name: string, choices: A): Options.Options<A[number]> =>
  Options.text(name).pipe(
    Options.withPseudoName(choices.join("|")),
    Options.mapEffect((text) =>
      choices.includes(text)
        ? Effect.succeed(text as A[number])
        : invalid(`--${name} takes one of ${choices.join(", ")}, not '${text}'`)
    )
  )

/**
 * `--json`: one JSON document on stdout (JSON lines for streams) instead of the human output.
 *
 * @since 0.1.0
 * @category options
 */
export const json: Options.Options<boolean> = Options.boolean("json").pipe(
  Options.withDescription("print JSON for scripts: one document, or one line per item of a stream")
)

/**
 * @since 0.1.0
 * @category models
 */
export interface Connection {
  readonly database: Option.Option<string>
  readonly server: Option.Option<string>
  readonly token: Option.Option<Redacted.Redacted<string>>
}

const envOption = (name: string) =>
  Effect.orElseSucceed(Effect.map(Config.option(Config.nonEmptyString(name)), Option.map((value) => value.trim())), () =>
    Option.none<string>())

const envRedacted = (name: string) =>
  Effect.orElseSucceed(Config.option(Config.redacted(name)), () => Option.none<Redacted.Redacted<string>>())

const HttpUrl = Schema.String.pipe(
  Schema.filter((url) => {
    try {
      const parsed = new URL(url)
      return parsed.protocol === "http:" || parsed.protocol === "https:"
    } catch {
      return false
    }
  })
)

/**
 * Runs `effect` with the backend the options (or the environment) name. Both a server and a database, a
 * server without a token, or neither is an invalid input that says what to give.
 *
 * @since 0.1.0
 * @category backend
 */
export const withBackend = <A, R>(
  options: Connection,
  effect: Effect.Effect<A, CliError.CliError, R | Backend>
): Effect.Effect<A, CliError.CliError, Exclude<R, Backend>> =>
  Effect.gen(function*() {
    const server = Option.isSome(options.server) ? options.server : yield* envOption("GATEHOUSE_SERVER_URL")
    const database = Option.isSome(options.database) ? options.database : yield* envOption("GATEHOUSE_DATABASE_URL")
    if (Option.isSome(server) && Option.isSome(options.database)) {
      return yield* CliError.make("invalid-input", "give either --server or --database, not both")
    }
    if (Option.isSome(server)) {
      if (!Schema.is(HttpUrl)(server.value)) {
        return yield* CliError.make(
          "invalid-input",
          `--server must be an http:// or https:// URL, got ${JSON.stringify(server.value)}`
        )
      }
      const token = Option.isSome(options.token) ? options.token : yield* envRedacted("GATEHOUSE_TOKEN")
      if (Option.isNone(token)) {
        return yield* CliError.make(
          "invalid-input",
          "--server needs a token",
          "give --token T, or set GATEHOUSE_TOKEN (it stays out of the process list)"
        )
      }
      return yield* Effect.provide(effect, layerServer({ url: server.value.replace(/\/+$/, ""), token: token.value }))
    }
    if (Option.isSome(database)) {
      if (database.value.trim() === "") {
        return yield* CliError.make("invalid-input", "--database must not be empty")
      }
      return yield* Effect.provide(effect, layerDatabase(database.value))
    }
    return yield* CliError.make(
      "invalid-input",
      "no database or server to talk to",
      "give --database PATH|postgres://URL (or set GATEHOUSE_DATABASE_URL), or --server URL --token T"
    )
  }) as Effect.Effect<A, CliError.CliError, Exclude<R, Backend>>

/**
 * The database `--database` or `GATEHOUSE_DATABASE_URL` names, for the commands that only work on a
 * database (`migrate`, `worker`).
 *
 * @since 0.1.0
 * @category backend
 */
export const databaseUrl = (option: Option.Option<string>): Effect.Effect<string, CliError.CliError> =>
  Effect.gen(function*() {
    const database = Option.isSome(option) ? option : yield* envOption("GATEHOUSE_DATABASE_URL")
    if (Option.isNone(database) || database.value.trim() === "") {
      return yield* CliError.make(
        "invalid-input",
        "no database given",
        "give --database PATH|postgres://URL, or set GATEHOUSE_DATABASE_URL"
      )
    }
    return database.value
  })
