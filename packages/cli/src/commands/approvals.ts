/**
 * `gatehouse approvals list` (the inbox as a table) and `gatehouse approvals show RUN [--node NODE]` (one
 * approval with its request context, votes, deadline and request hash).
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type { Approvals } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Backend } from "../Backend.js"
import * as CliError from "../CliError.js"
import { approvalOrders, approvalStatuses } from "../internal/choices.js"
import * as Output from "../Output.js"
import { choiceOption, connection, integerOption, json, withBackend } from "./shared.js"

/**
 * `RUN`: a run id.
 *
 * @since 0.1.0
 * @category arguments
 */
export const runArg: Args.Args<string> = Args.text({ name: "RUN" }).pipe(
  Args.withSchema(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(300))),
  Args.withDescription("the run id")
)

/**
 * `--node NODE`: the approval's node id; without it, the run's single pending approval.
 *
 * @since 0.1.0
 * @category options
 */
export const nodeOption: Options.Options<Option.Option<string>> = Options.text("node").pipe(
  Options.withSchema(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(300))),
  Options.withDescription("the approval's node id; without it, the run's single pending approval"),
  Options.optional
)

/**
 * `--limit N`, 1 to 500.
 *
 * @since 0.1.0
 * @category options
 */
export const limitOption: Options.Options<Option.Option<number>> = integerOption("limit", { min: 1, max: 500 }).pipe(
  Options.withDescription("at most this many (1 to 500)"),
  Options.optional
)

/**
 * The approval a command means: `--node` when given, else the run's only pending approval. Several
 * pending approvals is an invalid input that lists them (say which with `--node`); none is not found.
 *
 * @since 0.1.0
 * @category resolving
 */
export const resolveNode = (runId: string, node: Option.Option<string>): Effect.Effect<string, CliError.CliError, Backend> =>
  Option.isSome(node)
    ? Effect.succeed(node.value)
    : Effect.flatMap(Backend, (backend) => backend.pendingApprovals(runId)).pipe(
      Effect.flatMap((pending) => {
        if (pending.length === 1) return Effect.succeed(pending[0].nodeId)
        if (pending.length === 0) {
          return Effect.fail(
            CliError.make(
              "not-found",
              `run "${runId}" waits on no approval`,
              `\`gatehouse why ${runId}\` shows what it waits on; name a decided approval with --node`
            )
          )
        }
        const candidates = pending.map((approval) => ({ nodeId: approval.nodeId, title: approval.title }))
        const width = Math.max(...candidates.map((candidate) => candidate.nodeId.length))
        return Effect.fail(
          CliError.make(
            "invalid-input",
            `run "${runId}" waits on ${pending.length} approvals; say which with --node:\n` +
              candidates.map((candidate) => `  --node ${candidate.nodeId.padEnd(width)}  ${candidate.title}`).join("\n"),
            undefined,
            { candidates }
          )
        )
      })
    )

const quorumOf = (approval: Approvals.ApprovalRecord): string => {
  const votes = (approval.votes ?? []).filter((vote) => vote.round === approval.escalations)
  const { quorum } = approval.reviewers
  return approval.votes === undefined
    ? String(quorum)
    : `${votes.filter((vote) => vote.verdict === "approve").length}/${quorum}`
}

const reviewersOf = (reviewers: { readonly users: ReadonlyArray<string>; readonly roles: ReadonlyArray<string> }) =>
  [...reviewers.users.map((user) => `user ${user}`), ...reviewers.roles.map((role) => `role ${role}`)].join(", ") ||
  "anyone"

/**
 * @since 0.1.0
 * @category commands
 */
export const list = Command.make(
  "list",
  {
    ...connection,
    json,
    status: choiceOption("status", approvalStatuses).pipe(
      Options.withDescription("default waiting-approval"),
      Options.optional
    ),
    workflow: Options.text("workflow").pipe(Options.optional),
    reviewer: Options.text("reviewer").pipe(
      Options.withDescription("only what this reviewer may decide (against a server: default yourself, * for all)"),
      Options.optional
    ),
    order: choiceOption("order", approvalOrders).pipe(
      Options.withDescription("requested (oldest first, default), newest (newest first) or deadline (nearest first)"),
      Options.optional
    ),
    cursor: Options.text("cursor").pipe(
      Options.withDescription("start after this cursor (printed under a full page), read in the same --order"),
      Options.optional
    ),
    limit: limitOption
  },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const backend = yield* Backend
        const page = yield* backend.listApprovals({
          status: Option.getOrUndefined(options.status),
          workflow: Option.getOrUndefined(options.workflow),
          reviewer: Option.getOrUndefined(options.reviewer),
          order: Option.getOrUndefined(options.order),
          limit: Option.getOrUndefined(options.limit),
          cursor: Option.getOrUndefined(options.cursor)
        })
        if (options.json) return yield* Output.json(page)
        const now = yield* Output.now
        yield* Output.table(
          ["RUN", "NODE", "TITLE", "WAITING SINCE", "DEADLINE", "QUORUM"],
          page.approvals.map((approval) => [
            approval.runId,
            approval.nodeId,
            Output.brief(approval.title, 60),
            Output.relative(approval.requestedAt, now),
            approval.deadline === undefined ? "-" : Output.relative(approval.deadline, now),
            quorumOf(approval)
          ]),
          "no approvals"
        )
        if (page.cursor !== undefined) {
          yield* Console.log(Output.style.dim(`(more: the next page starts at ${page.cursor}; pass it as --cursor)`))
        }
      })
    )
).pipe(Command.withDescription("The inbox: approvals waiting for a decision, oldest first"))

interface JsonSchema {
  readonly type?: string | ReadonlyArray<string>
  readonly properties?: Readonly<Record<string, JsonSchema>>
  readonly required?: ReadonlyArray<string>
  readonly enum?: ReadonlyArray<unknown>
  readonly const?: unknown
  readonly description?: string
}

const asSchema = (schema: unknown): JsonSchema | undefined =>
  typeof schema === "object" && schema !== null ? schema as JsonSchema : undefined

const typeOf = (schema: JsonSchema): string =>
  schema.enum !== undefined
    ? schema.enum.map((value) => JSON.stringify(value)).join(" | ")
    : schema.const !== undefined
    ? JSON.stringify(schema.const)
    : Array.isArray(schema.type)
    ? schema.type.join(" | ")
    : typeof schema.type === "string"
    ? schema.type
    : "any"

/**
 * What `--payload` takes, from the approval's decision schema (JSON Schema): its fields, their types and
 * which are required; the whole schema when it is not an object of fields. None without a schema.
 */
const payloadOf = (decisionSchema: unknown): string | undefined => {
  const schema = asSchema(decisionSchema)
  if (schema === undefined) return undefined
  if (schema.properties === undefined) return `--payload JSON matching ${Output.brief(decisionSchema, 300)}`
  const required = new Set(schema.required ?? [])
  const fields = Object.entries(schema.properties).map(([name, field]) =>
    `${name} (${typeOf(field)}${required.has(name) ? ", required" : ", optional"})${
      field.description !== undefined ? ` ${field.description}` : ""
    }`
  )
  return `--payload JSON with ${fields.join("; ")}`
}

const exampleOf = (schema: JsonSchema | undefined): unknown => {
  if (schema === undefined) return null
  if (schema.enum !== undefined) return schema.enum[0]
  if (schema.const !== undefined) return schema.const
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type
  switch (type) {
    case "number":
    case "integer":
      return 0
    case "string":
      return ""
    case "boolean":
      return true
    case "array":
      return []
    case "object":
      return Object.fromEntries(
        Object.entries(schema.properties ?? {}).filter(([name]) => (schema.required ?? []).includes(name)).map((
          [name, field]
        ) => [name, exampleOf(field)])
      )
    default:
      return null
  }
}

/** A payload of the schema's required fields with placeholder values, to edit. */
const examplePayload = (decisionSchema: unknown): string => JSON.stringify(exampleOf(asSchema(decisionSchema)))

/**
 * @since 0.1.0
 * @category commands
 */
export const show = Command.make(
  "show",
  { ...connection, json, node: nodeOption, runId: runArg },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const backend = yield* Backend
        const nodeId = yield* resolveNode(options.runId, options.node)
        const approval = yield* backend.getApproval({ runId: options.runId, nodeId })
        if (options.json) return yield* Output.json(approval)
        const now = yield* Output.now
        const lines = [
          Output.style.bold(approval.title),
          Output.fields([
            ["run", `${approval.runId} (${approval.workflow})`],
            ["node", approval.revision > 0 ? `${approval.nodeId} (revision ${approval.revision})` : approval.nodeId],
            ["status", Output.status(approval.status)],
            ["requested", Output.timestamp(approval.requestedAt, now)],
            [
              "deadline",
              approval.deadline === undefined
                ? "none"
                : `${Output.timestamp(approval.deadline, now)}, then ${
                  approval.atDeadline === "escalate" ? "escalates" : approval.onTimeout === "fail" ? "fails the run" : "counts as denied"
                }`
            ],
            ["reviewers", `${reviewersOf(approval.reviewers)}; quorum ${quorumOf(approval)}`],
            ["summary", approval.summary],
            ["metadata", approval.metadata === undefined ? undefined : Output.brief(approval.metadata, 400)],
            ["reviewed", approval.reviewed === undefined ? undefined : Output.brief(approval.reviewed, 400)],
            ["payload", payloadOf(approval.decisionSchema)],
            ["decision", approval.decision === undefined ? undefined : Output.brief(approval.decision, 400)],
            ["request hash", approval.requestHash]
          ])
        ]
        if (approval.decisionSchema !== undefined && approval.status === "waiting-approval") {
          lines.push(
            Output.style.dim(
              `decide with: gatehouse approve ${approval.runId} --node ${approval.nodeId}${
                backend.target === "server"
                  ? ""
                  : ` --as YOUR_ID${approval.reviewers.roles.length > 0 ? ` --role ${approval.reviewers.roles[0]}` : ""}`
              } --payload '${examplePayload(approval.decisionSchema)}'`
            )
          )
        }
        const votes = approval.votes ?? []
        if (votes.length > 0) {
          lines.push(Output.style.bold("votes"))
          for (const vote of votes) {
            lines.push(
              `  ${vote.voter} ${Output.status(vote.verdict)} ${Output.relative(vote.createdAt, now)}${
                vote.note !== undefined ? ` "${vote.note}"` : ""
              }`
            )
          }
        }
        yield* Console.log(lines.join("\n"))
      })
    )
).pipe(Command.withDescription("One approval: its request context, reviewed output, votes, deadline and request hash"))

/**
 * @since 0.1.0
 * @category commands
 */
export const approvals = Command.make("approvals").pipe(
  Command.withDescription("The approvals inbox"),
  Command.withSubcommands([list, show])
)
