/**
 * `gatehouse audit verify` (walk the hash chain; exit 8 when an entry was edited, removed or reordered)
 * and `gatehouse audit export [--run RUN]` (the entries as JSON lines, oldest first).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type { Audit } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Backend } from "../Backend.js"
import * as CliError from "../CliError.js"
import * as Output from "../Output.js"
import { connection, json, withBackend } from "./shared.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const verify = Command.make(
  "verify",
  { ...connection, json },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const backend = yield* Backend
        const result = yield* backend.auditVerify
        if (options.json) yield* Output.json(result)
        if (result.valid) {
          if (!options.json) yield* Console.log(`${Output.style.green("valid")}: ${result.entries} audit entries verified`)
          return
        }
        return yield* CliError.make(
          "verification-failed",
          `the audit chain is broken at entry ${result.brokenAt} (${result.reason}) after ${result.entries} entries`,
          "an entry was edited, removed or reordered in the database: restore it from a backup and investigate"
        )
      })
    )
).pipe(Command.withDescription("Verify the audit trail's hash chain"))

/**
 * Every run's entries (page by page through the run list), merged in chain order.
 */
const allEntries = Effect.gen(function*() {
  const backend = yield* Backend
  const entries: Array<Audit.Entry> = []
  let cursor: string | undefined
  do {
    const page = yield* backend.listRuns({ limit: 500, cursor })
    for (const run of page.runs) entries.push(...(yield* backend.auditForRun(run.runId)))
    cursor = page.cursor
  } while (cursor !== undefined)
  return entries.sort((a, b) => a.seq - b.seq)
})

/**
 * @since 0.1.0
 * @category commands
 */
export const exportEntries = Command.make(
  "export",
  {
    ...connection,
    run: Options.text("run").pipe(
      Options.withSchema(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(300))),
      Options.withDescription("only this run's entries"),
      Options.optional
    )
  },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const backend = yield* Backend
        const entries = Option.isSome(options.run) ? yield* backend.auditForRun(options.run.value) : yield* allEntries
        for (const entry of entries) yield* Output.jsonLine(entry)
      })
    )
).pipe(Command.withDescription("The audit entries as JSON lines, oldest first"))

/**
 * @since 0.1.0
 * @category commands
 */
export const audit = Command.make("audit").pipe(
  Command.withDescription("The audit trail"),
  Command.withSubcommands([verify, exportEntries])
)
