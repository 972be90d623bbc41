/**
 * The `gatehouse` command and its subcommands.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import { serve } from "./commands/serve.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const gatehouse = Command.make("gatehouse").pipe(
  Command.withDescription("Durable workflows with human approvals"),
  Command.withSubcommands([serve])
)

/**
 * Runs the command on `process.argv`-style arguments.
 *
 * @since 0.1.0
 * @category running
 */
export const run = Command.run(gatehouse, { name: "gatehouse", version: "0.1.0" })
