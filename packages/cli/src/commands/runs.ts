/**
 * `gatehouse runs list`, `gatehouse runs start WORKFLOW --payload JSON`, `gatehouse runs inspect RUN` (the
 * timeline: each node with kind, status, timings, attempts and decision), `gatehouse runs cancel RUN
 * --reason TEXT`, and the repairs: `gatehouse runs resume RUN --reason TEXT` and `gatehouse runs fork RUN
 * --reason TEXT [--from NODE] [--payload JSON|@file]`.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type { Run } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { Backend } from "../Backend.js"
import { runStatuses } from "../internal/choices.js"
import * as Output from "../Output.js"
import { limitOption, runArg } from "./approvals.js"
import { parsePayload } from "./decide.js"
import { labelOption, labelsOf } from "./policy.js"
import { choiceOption, connection, json, withBackend } from "./shared.js"

/**
 * @since 0.1.0
 * @category commands
 */
export const list = Command.make(
  "list",
  {
    ...connection,
    json,
    status: choiceOption("status", runStatuses).pipe(Options.optional),
    workflow: Options.text("workflow").pipe(Options.optional),
    limit: limitOption
  },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const backend = yield* Backend
        const page = yield* backend.listRuns({
          status: Option.getOrUndefined(options.status),
          workflow: Option.getOrUndefined(options.workflow),
          limit: Option.getOrUndefined(options.limit)
        })
        if (options.json) return yield* Output.json(page)
        const now = yield* Output.now
        yield* Output.table(
          ["RUN", "WORKFLOW", "STATUS", "STARTED", "UPDATED"],
          page.runs.map((run) => [
            run.runId,
            run.workflow,
            Output.status(run.status),
            Output.relative(run.createdAt, now),
            Output.relative(run.updatedAt, now)
          ]),
          "no runs"
        )
        if (page.cursor !== undefined) yield* Console.log(Output.style.dim(`(more: the next page starts at ${page.cursor})`))
      })
    )
).pipe(Command.withDescription("Runs, newest first"))

type Inspected = Run.Inspection["events"][number]

/**
 * Who signed a quorum's decision: the voters of the deciding round whose verdict it was, from the run's
 * events (`approval.vote-recorded` per vote, `approval.decided` for the vote that reached the quorum).
 */
const signersOf = (node: Run.Node, events: ReadonlyArray<Inspected>): ReadonlyArray<string> => {
  const own = events.filter((event) => event.nodeId === node.nodeId)
  const decided = own.filter((event) => event.type === "approval.decided").at(-1)
  const verdict = Predicate.isRecord(decided?.data) ? decided.data.verdict : undefined
  const round = own.filter((event) => event.type === "approval.escalated").length
  const voters = own.filter((event) =>
    event.type === "approval.vote-recorded" && Predicate.isRecord(event.data) && event.data.verdict === verdict &&
    (event.data.round ?? 0) === round
  ).map((event) => event.actor).filter((actor): actor is string => actor !== undefined)
  return decided?.actor !== undefined ? [...voters, decided.actor] : voters
}

const decisionOf = (value: unknown, signers: ReadonlyArray<string>): string | undefined =>
  Predicate.isRecord(value) && typeof value.decidedBy === "string"
    ? `${String(value.outcome ?? (value.approved === true ? "approved" : "denied"))} by ${
      signers.length > 1 && signers.includes(value.decidedBy) ? signers.join(", ") : value.decidedBy
    }${typeof value.note === "string" && value.note !== "" ? ` "${value.note}"` : ""}`
    : undefined

/** A recorded step Exit that is a failure: the step failed (the journal's row is `completed` either way). */
const failedExit = (node: Run.Node): boolean =>
  node.kind === "step" && Predicate.isRecord(node.exit) && node.exit._tag === "Failure"

/** The error of a failed Exit, as the step recorded it (`Fail`'s error, a defect's message). */
const failureOf = (exit: Record<string, unknown>): unknown => {
  const cause = exit.cause
  if (!Predicate.isRecord(cause)) return exit.error ?? cause
  if (cause._tag === "Fail") return cause.error
  if (cause._tag === "Die") return Predicate.isRecord(cause.defect) ? cause.defect.message ?? cause.defect : cause.defect
  return cause
}

/** A node's status as a reader means it: a step whose recorded Exit is a failure is `failed`. */
const statusOf = (node: Run.Node): string => failedExit(node) ? "failed" : node.status

/** An approval node's recorded exit is its decision (with every signer of a quorum); a step's, its Exit. */
const resultOf = (node: Run.Node, events: ReadonlyArray<Inspected>): string => {
  const exit = node.exit
  if (exit === undefined) return ""
  const signers = node.kind === "approval" ? signersOf(node, events) : []
  const decision = decisionOf(exit, signers) ?? (Predicate.isRecord(exit) ? decisionOf(exit.value, signers) : undefined)
  if (decision !== undefined) return decision
  if (Predicate.isRecord(exit) && exit._tag === "Success") {
    return exit.value === undefined ? "" : `-> ${Output.brief(exit.value, 60)}`
  }
  if (Predicate.isRecord(exit) && exit._tag === "Failure") return `failed: ${Output.brief(failureOf(exit), 80)}`
  return Output.brief(exit, 80)
}

/**
 * @since 0.1.0
 * @category commands
 */
export const inspect = Command.make(
  "inspect",
  { ...connection, json, runId: runArg },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const backend = yield* Backend
        const inspection = yield* backend.inspect(options.runId)
        if (options.json) return yield* Output.json(inspection)
        const now = yield* Output.now
        const { run } = inspection
        yield* Console.log(
          [
            `${Output.style.bold(run.runId)}  ${run.workflow}  ${Output.status(run.status)}`,
            Output.fields([
              ["started", `${Output.timestamp(run.createdAt, now)}${run.startedBy !== undefined ? ` by ${run.startedBy}` : ""}`],
              ["ended", run.completedAt === undefined ? undefined : Output.timestamp(run.completedAt, now)],
              ["error", run.error],
              [
                "forked from",
                run.forkedFrom === undefined
                  ? undefined
                  : `${run.forkedFrom.runId}${run.forkedFrom.nodeId === "" ? " (from the start)" : ` (from node ${run.forkedFrom.nodeId})`}`
              ],
              ["forks", run.forks === undefined || run.forks.length === 0 ? undefined : run.forks.join(", ")],
              ["resumed", run.repairs > 0 ? `${run.repairs} time${run.repairs === 1 ? "" : "s"}` : undefined],
              ["result", run.result === undefined ? undefined : Output.brief(run.result, 200)]
            ]),
            ""
          ].join("\n")
        )
        yield* Output.table(
          ["NODE", "KIND", "STATUS", "STARTED", "TOOK", "ATTEMPTS", "DECISION / RESULT"],
          inspection.nodes.map((node) => [
            node.nodeId,
            node.kind,
            Output.status(statusOf(node)),
            Output.relative(node.startedAt, now),
            node.completedAt === undefined ? "-" : Output.duration(node.completedAt - node.startedAt),
            // Attempts are a step's (its retries); an approval, a timer or a deferred has none.
            node.kind === "step" ? String(node.attempt) : "-",
            resultOf(node, inspection.events)
          ]),
          "no nodes yet"
        )
      })
    )
).pipe(Command.withDescription("A run's timeline: each node with kind, status, timings, attempts and decision"))

/**
 * Starts a workflow by its name, as `POST /v1/workflows/{name}/runs` and `Workflows.startByName` do: the
 * same payload gives the same run id and the same typed errors by code, over HTTP and here.
 *
 * @since 0.1.0
 * @category commands
 */
export const start = Command.make(
  "start",
  {
    ...connection,
    json,
    payload: Options.text("payload").pipe(
      Options.withDescription("the workflow's payload as JSON, or @file; the workflow's schema validates it")
    ),
    label: labelOption,
    idempotencyKey: Options.text("idempotency-key").pipe(
      Options.withSchema(Schema.NonEmptyString.pipe(Schema.maxLength(200))),
      Options.withDescription("for a workflow without its own key: the same key starts the same run"),
      Options.optional
    ),
    workflow: Args.text({ name: "WORKFLOW" }).pipe(Args.withDescription("the workflow's name"))
  },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const payload = yield* parsePayload(options.payload)
        const backend = yield* Backend
        const started = yield* backend.start({
          workflow: options.workflow,
          payload,
          labels: options.label.length > 0 ? labelsOf(options.label) : undefined,
          idempotencyKey: Option.getOrUndefined(options.idempotencyKey)
        })
        if (options.json) return yield* Output.json(started)
        yield* Console.log(
          started.created
            ? `started: run ${started.runId}`
            : `already started: run ${started.runId} (the same key started it before; nothing changed)`
        )
      })
    )
).pipe(Command.withDescription("Start a run of a workflow by its name (idempotent)"))

/**
 * @since 0.1.0
 * @category commands
 */
export const cancel = Command.make(
  "cancel",
  {
    ...connection,
    json,
    reason: Options.text("reason").pipe(
      Options.withSchema(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(2000))),
      Options.withDescription("why, stored with the run and in the audit trail")
    ),
    runId: runArg
  },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const backend = yield* Backend
        const result = yield* backend.cancel(options.runId, options.reason)
        if (options.json) return yield* Output.json(result)
        yield* Console.log(
          result.status === "canceled"
            ? `canceled: run ${result.run.runId}`
            : `already ${Output.status(result.run.status)}: run ${result.run.runId} (nothing changed)`
        )
      })
    )
).pipe(Command.withDescription("Cancel a run that has not ended"))

const repairReason = Options.text("reason").pipe(
  Options.withSchema(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(2000))),
  Options.withDescription("why, stored with the run, its event and the audit trail")
)

/**
 * Resumes a failed or canceled run in place, as `POST /v1/runs/{runId}/resume` and `Workflows.resume` do:
 * completed steps keep their results, a failed step runs again with the same idempotency key, and each
 * approval reuses its decision only while it still holds. A run that is running, waiting or completed is
 * a conflict (exit 4).
 *
 * @since 0.1.0
 * @category commands
 */
export const resume = Command.make(
  "resume",
  { ...connection, json, reason: repairReason, runId: runArg },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const backend = yield* Backend
        const result = yield* backend.resume(options.runId, options.reason)
        if (options.json) return yield* Output.json(result)
        yield* Console.log(
          `resumed: run ${result.run.runId} (${Output.status(result.run.status)}; ${
            result.rerun.length === 0 ? "nothing to run again" : `runs again: ${result.rerun.join(", ")}`
          })`
        )
      })
    )
).pipe(Command.withDescription("Resume a failed or canceled run in place; decisions are reused only while they hold"))

/**
 * Starts a new run from a run's journal, as `POST /v1/runs/{runId}/fork` and `Workflows.fork` do: the
 * origin's completed nodes before `--from` are kept, `--from` and everything after run again, with the
 * origin's payload or `--payload`. An unknown node is invalid input (exit 2).
 *
 * @since 0.1.0
 * @category commands
 */
export const fork = Command.make(
  "fork",
  {
    ...connection,
    json,
    reason: repairReason,
    from: Options.text("from").pipe(
      Options.withSchema(Schema.NonEmptyTrimmedString),
      Options.withDescription("the node to run again from (its id in `runs inspect`); from the start without it"),
      Options.optional
    ),
    payload: Options.text("payload").pipe(
      Options.withDescription("a new payload as JSON, or @file (the workflow's schema validates it); the origin's without it"),
      Options.optional
    ),
    runId: runArg
  },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const payload = Option.isSome(options.payload) ? yield* parsePayload(options.payload.value) : undefined
        const backend = yield* Backend
        const result = yield* backend.fork({
          runId: options.runId,
          reason: options.reason,
          fromNode: Option.getOrUndefined(options.from),
          payload
        })
        if (options.json) return yield* Output.json(result)
        const from = result.run.forkedFrom
        yield* Console.log(
          `forked: run ${result.runId} from run ${from?.runId ?? options.runId} (${
            from === undefined || from.nodeId === "" ? "from the start" : `from node ${from.nodeId}`
          }; ${Output.status(result.run.status)})`
        )
      })
    )
).pipe(Command.withDescription("Start a new run from a run's journal, running again from a node on"))

/**
 * @since 0.1.0
 * @category commands
 */
export const runs = Command.make("runs").pipe(
  Command.withDescription("Runs: list, start, inspect, cancel, resume, fork"),
  Command.withSubcommands([list, start, inspect, cancel, resume, fork])
)
