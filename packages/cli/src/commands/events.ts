/**
 * `gatehouse events tail [--after CURSOR] [--follow]`: the events outbox in commit order, as lines or JSON
 * lines; with `--follow` it keeps printing events as they commit, from any process, until interrupted.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type { Events } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Backend } from "../Backend.js"
import * as Output from "../Output.js"
import { connection, integerOption, json, withBackend } from "./shared.js"

const line = (event: Events.Event): string =>
  [
    Output.style.dim(new Date(event.createdAt).toISOString()),
    Output.style.bold(event.type),
    event.runId !== undefined ? `run ${event.runId}` : undefined,
    event.nodeId !== undefined ? `node ${event.nodeId}` : undefined,
    event.actor !== undefined ? `by ${event.actor}` : undefined,
    Output.style.dim(`[${event.cursor}]`)
  ].filter((part) => part !== undefined).join("  ")

/**
 * @since 0.1.0
 * @category commands
 */
export const tail = Command.make(
  "tail",
  {
    ...connection,
    json,
    after: Options.text("after").pipe(
      Options.withSchema(Schema.String.pipe(Schema.pattern(/^\d+-\d+$/), Schema.maxLength(100))),
      Options.withDescription("start after this cursor (printed with each event); default the beginning"),
      Options.optional
    ),
    follow: Options.boolean("follow").pipe(
      Options.withAlias("f"),
      Options.withDescription("keep printing new events as they commit, until interrupted")
    ),
    pollInterval: integerOption("poll-interval", { min: 50, max: 60_000 }).pipe(
      Options.withDescription("with --follow: milliseconds between looks for new events"),
      Options.withDefault(500)
    )
  },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const backend = yield* Backend
        let cursor = Option.getOrUndefined(options.after)
        while (true) {
          const page = yield* backend.readEvents({ after: cursor, limit: 500 })
          for (const event of page.events) {
            yield* options.json ? Output.jsonLine(event) : Console.log(line(event))
          }
          cursor = page.cursor
          if (page.events.length === 500) continue
          if (!options.follow) return
          yield* Effect.sleep(Duration.millis(options.pollInterval))
        }
      })
    )
).pipe(Command.withDescription("The events outbox in commit order; --follow keeps printing new ones"))

/**
 * @since 0.1.0
 * @category commands
 */
export const events = Command.make("events").pipe(
  Command.withDescription("The events outbox"),
  Command.withSubcommands([tail])
)
