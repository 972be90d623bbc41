/**
 * `gatehouse migrate`: apply the engine's migrations to a database and print its version.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { redactUrl } from "../Backend.js"
import * as CliError from "../CliError.js"
import * as Output from "../Output.js"
import { connection, databaseUrl, json } from "./shared.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const migrate = Command.make(
  "migrate",
  { database: connection.database, json },
  (options) =>
    Effect.gen(function*() {
      const url = yield* databaseUrl(options.database)
      // Loaded here, not at start-up: the engine and its SQL drivers are for the commands that use them.
      const { Gatehouse, Migrations } = yield* Effect.promise(() => import("@gatehouse/engine"))
      const database = Gatehouse.parseDatabaseUrl(url)
      const migrated: Effect.Effect<ReadonlyArray<readonly [number, string]>, unknown> = database._tag === "Pg"
        ? Effect.provide(Migrations.migrate, Gatehouse.layerPgClient({ url: database.url }))
        : Effect.provide(Migrations.migrate, Gatehouse.layerSqliteClient(database.filename))
      const applied = yield* migrated.pipe(
        Effect.mapError((error) =>
          CliError.make(
            "unreachable",
            `cannot migrate the database ${redactUrl(url)}: ${(error as Error).message ?? String(error)}`,
            "check --database or GATEHOUSE_DATABASE_URL"
          )
        )
      )
      const [version, name] = Migrations.latest
      if (options.json) {
        return yield* Output.json({
          version,
          name,
          applied: applied.map(([id, migration]) => ({ id, name: migration }))
        })
      }
      yield* Console.log(
        `database at version ${version} (${name}); ${
          applied.length === 0
            ? "already up to date"
            : `applied ${applied.map(([id, migration]) => `${String(id).padStart(4, "0")}_${migration}`).join(", ")}`
        }`
      )
    })
).pipe(Command.withDescription("Apply the engine's migrations to the database and print its version"))
