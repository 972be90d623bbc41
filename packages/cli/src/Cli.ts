/**
 * The `gatehouse` command and its subcommands: a plain list of command groups, one module each under
 * `commands/` (a new group is one file and one line here).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import { approvals } from "./commands/approvals.js"
import { audit } from "./commands/audit.js"
import { approve, deny, requestChanges } from "./commands/decide.js"
import { events } from "./commands/events.js"
import { migrate } from "./commands/migrate.js"
import { policy } from "./commands/policy.js"
import { runs } from "./commands/runs.js"
import { serve } from "./commands/serve.js"
import { why } from "./commands/why.js"
import { webhooks } from "./commands/webhooks.js"
import { worker } from "./commands/worker.js"

/**
 * The top-level commands, in the order of the help.
 *
 * @since 0.1.0
 * @category commands
 */
export const commands = [
  approvals,
  approve,
  deny,
  requestChanges,
  runs,
  why,
  events,
  audit,
  policy,
  migrate,
  worker,
  serve,
  webhooks
] as const

/**
 * @since 0.1.0
 * @category commands
 */
export const gatehouse = Command.make("gatehouse").pipe(
  Command.withDescription("Durable workflows with human approvals: approve, deny, inspect and operate"),
  Command.withSubcommands(commands)
)

/**
 * Runs the command on `process.argv`-style arguments.
 *
 * @since 0.1.0
 * @category running
 */
export const run = Command.run(gatehouse, { name: "gatehouse", version: "0.1.0" })
