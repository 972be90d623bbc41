/**
 * `gatehouse approve`, `gatehouse deny` and `gatehouse request-changes`: one decision on one approval,
 * through `Approvals.decide` (on the database, for `--as ID`) or the server's decision endpoint (for the
 * token's principal).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type { Approvals } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import { Backend } from "../Backend.js"
import * as CliError from "../CliError.js"
import * as Output from "../Output.js"
import { nodeOption, resolveNode, runArg } from "./approvals.js"
import { connection, json, withBackend } from "./shared.js"

/**
 * `--payload JSON` or `--payload @file`: parsed here; the engine validates it against the node's schema.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parsePayload = (text: string): Effect.Effect<unknown, CliError.CliError> =>
  Effect.gen(function*() {
    let source = text
    if (text.startsWith("@")) {
      const file = text.slice(1)
      source = yield* Effect.try({
        try: () => fs.readFileSync(file, "utf8"),
        catch: (error) =>
          CliError.make("invalid-input", `--payload: cannot read ${file}: ${(error as Error).message}`, "give --payload @PATH of a readable JSON file")
      })
    }
    return yield* Effect.try({
      try: () => JSON.parse(source) as unknown,
      catch: (error) =>
        CliError.make(
          "invalid-input",
          `--payload is not JSON: ${(error as Error).message}`,
          `quote it for the shell, e.g. --payload '{"amount": 40}', or give --payload @file.json`
        )
    })
  })

const verbs = {
  approve: { verdict: "approve", description: "Approve an approval of a run" },
  deny: { verdict: "deny", description: "Deny an approval of a run" },
  "request-changes": { verdict: "request-changes", description: "Ask for a new revision of the reviewed output, with a note" }
} as const

const outcome = (verdict: Approvals.Verdict, result: Approvals.DecideResult, by: string | undefined): string => {
  const { approval } = result
  const target = `${approval.nodeId} of run ${approval.runId}`
  switch (result.status) {
    case "decided":
      return `${Output.status(approval.status)}: ${target}`
    case "already-decided":
      return `already ${Output.status(approval.status)} with this decision: ${target} (nothing changed)`
    case "vote-recorded": {
      const votes = (approval.votes ?? []).filter((vote) => vote.round === approval.escalations)
      const have = votes.filter((vote) => vote.verdict === verdict).length
      const need = verdict === "deny" ? approval.reviewers.denyQuorum : approval.reviewers.quorum
      const tally = `${have}/${need} ${verdict === "deny" ? "denials" : "approvals"}; still waiting`
      if (result.repeated === true) {
        const own = votes.find((vote) => vote.voter === by)
        const note = own?.note !== undefined && own.note !== "" ? `; its note "${own.note}" stands` : ""
        return `already voted: you voted ${verdict} on ${target} before (${tally}); nothing changed${note}`
      }
      return `vote recorded: ${target} (${tally})`
    }
  }
}

const soleVoter = (result: Approvals.DecideResult, verdict: Approvals.Verdict): string | undefined => {
  const votes = (result.approval.votes ?? []).filter((vote) =>
    vote.round === result.approval.escalations && vote.verdict === verdict
  )
  return votes.length === 1 ? votes[0].voter : undefined
}

const decideCommand = <Name extends keyof typeof verbs>(name: Name) => {
  const { description, verdict } = verbs[name]
  const note = verdict === "request-changes"
    ? Options.text("note").pipe(
      Options.withDescription("what to change (required)"),
      Options.withSchema(Schema.NonEmptyTrimmedString),
      Options.map(Option.some)
    )
    : Options.text("note").pipe(Options.withDescription("a note stored with the decision"), Options.optional)
  return Command.make(
    name,
    {
      ...connection,
      json,
      node: nodeOption,
      note,
      payload: Options.text("payload").pipe(
        Options.withDescription("JSON the node's decision schema asks for, or @file"),
        Options.optional
      ),
      requestHash: Options.text("request-hash").pipe(
        Options.withSchema(Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/), Schema.annotations({ message: () => "a request hash is 64 lowercase hex digits" }))),
        Options.withDescription(
          "decide only if the approval is still the one you read (its request hash, from `approvals show`)"
        ),
        Options.optional
      ),
      as: Options.text("as").pipe(
        Options.withDescription("the reviewer you decide as (database only; a server knows you from the token)"),
        Options.optional
      ),
      role: Options.text("role").pipe(Options.withDescription("a role you hold (repeat)"), Options.repeated),
      runId: runArg
    },
    (options) =>
      withBackend(
        options,
        Effect.gen(function*() {
          const backend = yield* Backend
          const payload = Option.isSome(options.payload) ? yield* parsePayload(options.payload.value) : undefined
          if (Option.isNone(options.as) && options.role.length > 0) {
            return yield* CliError.make("invalid-input", "--role needs --as: the roles are those of the reviewer --as names")
          }
          const nodeId = yield* resolveNode(options.runId, options.node)
          const result = yield* backend.decide({
            runId: options.runId,
            nodeId,
            verdict,
            note: Option.getOrUndefined(options.note),
            payload,
            requestHash: Option.getOrUndefined(options.requestHash),
            as: Option.isSome(options.as) ? { id: options.as.value, roles: options.role } : undefined
          })
          if (options.json) return yield* Output.json(result)
          // The voter: the reviewer --as names, or (against a server) the one vote of this round that matches.
          yield* Console.log(outcome(verdict, result, Option.getOrUndefined(options.as) ?? soleVoter(result, verdict)))
        })
      )
  ).pipe(Command.withDescription(description))
}

/**
 * @since 0.1.0
 * @category commands
 */
export const approve = decideCommand("approve")

/**
 * @since 0.1.0
 * @category commands
 */
export const deny = decideCommand("deny")

/**
 * @since 0.1.0
 * @category commands
 */
export const requestChanges = decideCommand("request-changes")
