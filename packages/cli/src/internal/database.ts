/**
 * The backend on the database itself: the engine's client services (`Approvals`, `Workflows`, `Events`,
 * `Audit`, `Waiting`), the same calls the HTTP API's handlers make.
 */
import { Approvals, Audit, Events, Gatehouse, Policies, Waiting, Workflows } from "@gatehouse/engine"
import * as os from "node:os"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { Backend } from "../Backend.js"
import * as CliError from "../CliError.js"
import { fromTagged } from "./errors.js"

const defined = <A extends Record<string, unknown>>(record: A): A =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as A

export const make: Effect.Effect<
  Backend["Type"],
  never,
  Approvals.Approvals | Workflows.Workflows | Events.Events | Policies.Policies | Audit.Audit
> = Effect.gen(function*() {
  const approvals = yield* Approvals.Approvals
  const policies = yield* Policies.Policies
  const workflows = yield* Workflows.Workflows
  const events = yield* Events.Events
  const context = yield* Effect.context<
    Approvals.Approvals | Workflows.Workflows | Audit.Audit
  >()
  const where = "the database"
  const wrap = <A, E, R extends Approvals.Approvals | Workflows.Workflows | Audit.Audit>(
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<A, CliError.CliError> =>
    effect.pipe(Effect.provide(context), Effect.mapError((error) => fromTagged(error, where))) as Effect.Effect<
      A,
      CliError.CliError
    >

  const waiting = (runId: string) => wrap(Waiting.explain(runId))

  return {
    target: "database",
    // `*` is every reviewer's, as on the server.
    listApprovals: (query) =>
      wrap(approvals.list(defined({ ...query, reviewer: query.reviewer === "*" ? undefined : query.reviewer }))),
    getApproval: (address) => wrap(approvals.get(address)),
    pendingApprovals: (runId) =>
      Effect.map(
        waiting(runId),
        (explanation) =>
          explanation.blockers.filter((blocker): blocker is Waiting.ApprovalWait => blocker._tag === "ApprovalWait")
      ),
    decide: ({ as, ...request }) =>
      as === undefined
        ? Effect.fail(
          CliError.make(
            "invalid-input",
            "a decision on the database needs --as ID: the reviewer it is recorded for",
            "add --as YOUR_ID (and --role R for each role you hold), or decide through a server with --server URL --token T"
          )
        )
        : wrap(approvals.decide(defined({ ...request, by: { id: as.id, roles: [...as.roles] } }))),
    listRuns: (query) => wrap(workflows.list(defined({ ...query }))),
    inspect: (runId) => wrap(workflows.inspect(runId)),
    // The CLI's own process registers no workflow: on a database only a workflow `define`d in this process
    // could start, so this answers WorkflowNotFound with the way through a server that runs it.
    start: ({ idempotencyKey, labels, payload, workflow }) =>
      wrap(Workflows.startByName(workflow, payload, defined({ startedBy: cliActor(), labels, idempotencyKey }))).pipe(
        Effect.mapError((error) =>
          error.kind === "not-found" && error.hint === undefined
            ? CliError.make(
              "not-found",
              error.message,
              "start it through a server that runs the workflow: --server URL --token T (a database alone has no workflow code)"
            )
            : error
        )
      ),
    cancel: (runId, reason) => wrap(workflows.cancel(runId, defined({ by: cliActor(), reason }))),
    resume: (runId, reason) => wrap(workflows.resume({ runId, by: cliActor(), reason })),
    // A new payload is validated with the workflow's schema, which only a process running the workflow has.
    fork: ({ fromNode, payload, reason, runId }) =>
      wrap(workflows.fork(defined({ runId, by: cliActor(), reason, fromNode, payload }))).pipe(
        Effect.mapError((error) =>
          error.kind === "not-found" && error.hint === undefined
            ? CliError.make(
              "not-found",
              error.message,
              "a new --payload is validated by the workflow's code: fork through a server that runs the workflow (--server URL --token T), or fork without --payload"
            )
            : error
        )
      ),
    waiting,
    readEvents: ({ after, limit }) =>
      wrap(
        Effect.map(events.read(defined({ after, limit })), (page) => ({
          events: page,
          cursor: page.length > 0 ? page[page.length - 1].cursor : after
        }))
      ),
    auditVerify: wrap(Audit.verify),
    auditForRun: (runId) => wrap(Effect.zipRight(workflows.poll(runId), Audit.forRun(runId))),
    activePolicy: wrap(policies.active),
    // On the database the CLI's user activates, as `runs cancel` cancels (a server knows its principal).
    activatePolicy: (document, as) => wrap(policies.activate(document, { by: as ?? `cli:${os.userInfo().username}` })),
    explainPolicy: (action) => wrap(policies.explain(action)),
    backtestPolicy: (document, days) => wrap(policies.backtest(document, { days }))
  } satisfies Backend["Type"]
})

// A start, a cancel, a resume or a fork on the database is recorded for the operating-system user (a server records its
// principal).
const cliActor = (): string => {
  const user = process.env.USER ?? process.env.USERNAME
  return user !== undefined && user.trim() !== "" ? `cli:${user.trim()}` : "cli"
}

/** The backend on the database `url` names (`Backend.layerDatabase` says why it fails). */
export const layer = (url: string): Layer.Layer<Backend, unknown> => {
  const database = Gatehouse.parseDatabaseUrl(url)
  const client: Layer.Layer<Gatehouse.ClientServices, unknown> = database._tag === "Pg"
    ? Gatehouse.layerClientPg({ url: database.url })
    : Gatehouse.layerClientSqlite({ filename: database.filename })
  return Layer.effect(Backend, make).pipe(Layer.provide(client))
}
