/**
 * What the commands talk to: the database itself (the engine's client services) or a running server
 * (through `HttpApiClient` built from the server's own API definition). The commands do not know which;
 * both layers answer with the engine's models and fail with a `CliError` of the same kind.
 *
 * @since 0.1.0
 */
import type { Approvals, Audit, Events, Policies, Policy, Run, Waiting, Workflows } from "@gatehouse/engine"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as Layer from "effect/Layer"
import * as Predicate from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import * as CliErrors from "./CliError.js"
import type { CliError } from "./CliError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface DecideRequest {
  readonly runId: string
  readonly nodeId: string
  readonly verdict: Approvals.Verdict
  readonly note?: string | undefined
  readonly payload?: unknown
  /** The request hash the reviewer read: a newer revision makes the decision stale. */
  readonly requestHash?: string | undefined
  /** Who decides: required against a database, refused against a server (the token says who). */
  readonly as?: { readonly id: string; readonly roles: ReadonlyArray<string> } | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ApprovalQuery {
  readonly status?: Approvals.ApprovalStatus | undefined
  readonly workflow?: string | undefined
  readonly reviewer?: string | undefined
  readonly order?: Approvals.ListOrder | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface RunQuery {
  readonly status?: Run.RunStatus | undefined
  readonly workflow?: string | undefined
  readonly limit?: number | undefined
  readonly cursor?: string | undefined
}

/**
 * A start of a workflow by its name, as `POST /v1/workflows/{name}/runs` and `Workflows.startByName` take it.
 *
 * @since 0.1.0
 * @category models
 */
export interface StartRequest {
  readonly workflow: string
  /** The payload in its JSON form: the workflow's schema decodes and validates it. */
  readonly payload: unknown
  readonly labels?: Readonly<Record<string, string>> | undefined
  /** For a workflow without its own idempotency key: the same key starts the same run. */
  readonly idempotencyKey?: string | undefined
}

/**
 * A fork of a run, as `POST /v1/runs/{runId}/fork` and `Workflows.fork` take it (who forks is the CLI's
 * user on a database, the token's principal on a server).
 *
 * @since 0.1.0
 * @category models
 */
export interface ForkRequest {
  readonly runId: string
  readonly reason: string
  /** The node of the origin's journal to run again from; from the start without one. */
  readonly fromNode?: string | undefined
  /** A new payload in its JSON form, validated by the workflow's schema; the origin's without one. */
  readonly payload?: unknown
}

/**
 * @since 0.1.0
 * @category models
 */
export interface EventPage {
  readonly events: ReadonlyArray<Events.Event>
  /** Where the next read starts. */
  readonly cursor: string | undefined
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Backend extends Context.Tag("@gatehouse/cli/Backend")<Backend, {
  /** `database` or `server`: only for messages and the refusal of `--as` against a server. */
  readonly target: "database" | "server"
  readonly listApprovals: (query: ApprovalQuery) => Effect.Effect<Approvals.ApprovalPage, CliError>
  readonly getApproval: (address: {
    readonly runId: string
    readonly nodeId: string
  }) => Effect.Effect<Approvals.ApprovalRecord, CliError>
  /** The approvals the run waits on now (to find the one a decision without `--node` means). */
  readonly pendingApprovals: (runId: string) => Effect.Effect<ReadonlyArray<Waiting.ApprovalWait>, CliError>
  readonly decide: (request: DecideRequest) => Effect.Effect<Approvals.DecideResult, CliError>
  readonly listRuns: (query: RunQuery) => Effect.Effect<Workflows.RunPage, CliError>
  readonly inspect: (runId: string) => Effect.Effect<Run.Inspection, CliError>
  /** Starts a workflow by name: the server's registry, or on a database the registry of this process. */
  readonly start: (request: StartRequest) => Effect.Effect<Workflows.StartedRun, CliError>
  readonly cancel: (runId: string, reason: string | undefined) => Effect.Effect<Workflows.CancelResult, CliError>
  /** Makes a failed or canceled run runnable again, in place (`Workflows.resume`). */
  readonly resume: (runId: string, reason: string) => Effect.Effect<Workflows.ResumeResult, CliError>
  /** Starts a new run from a run's journal, from a node on (`Workflows.fork`). */
  readonly fork: (request: ForkRequest) => Effect.Effect<Workflows.ForkResult, CliError>
  readonly waiting: (runId: string) => Effect.Effect<Waiting.Explanation, CliError>
  readonly readEvents: (options: { readonly after?: string | undefined; readonly limit: number }) => Effect.Effect<
    EventPage,
    CliError
  >
  readonly auditVerify: Effect.Effect<Audit.Verification, CliError>
  readonly auditForRun: (runId: string) => Effect.Effect<ReadonlyArray<Audit.Entry>, CliError>
  /** The active policy, if one was activated. */
  readonly activePolicy: Effect.Effect<Option.Option<Policies.Activation>, CliError>
  /** Activates a policy document (YAML or JSON text); `as` names who activates it on a database. */
  readonly activatePolicy: (document: string, as: string | undefined) => Effect.Effect<Policies.Activation, CliError>
  /** The active policy's evaluation of an action, with its trace; none without a policy. */
  readonly explainPolicy: (action: Policy.Action) => Effect.Effect<Option.Option<Policy.Evaluation>, CliError>
  /** A draft policy over the actions recorded in the last `days`. */
  readonly backtestPolicy: (document: string, days: number | undefined) => Effect.Effect<Policies.Backtest, CliError>
}>() {}

/**
 * The engine's client services on a database, migrated first: a SQLite file path (or `sqlite:PATH`) or
 * a `postgres://` URL. A database that cannot be opened or reached fails with `unreachable`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDatabase = (url: string): Layer.Layer<Backend, CliError> =>
  // The engine and its SQL drivers are loaded here, when a command opens a database, not at start-up:
  // `--help`, a usage error or a command against a server needs none of them (and starts faster).
  Layer.unwrapEffect(
    Effect.map(Effect.promise(() => import("./internal/database.js")), (database) => database.layer(url))
  ).pipe(
    Layer.mapError((error) =>
      CliErrors.make(
        "unreachable",
        `cannot open the database ${redactUrl(url)}: ${messageOf(error)}`,
        "check --database or GATEHOUSE_DATABASE_URL (a SQLite file path, or postgres://user@host:port/db)"
      )
    )
  )

/**
 * The server's API at `url`, authenticated with a bearer token.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer = (options: {
  readonly url: string
  readonly token: Redacted.Redacted<string>
}): Layer.Layer<Backend> =>
  // The HTTP client and the server's API definition (with the engine's schemas it uses) are loaded only
  // for `--server`.
  Layer.unwrapEffect(
    Effect.map(Effect.promise(() => import("./internal/server.js")), (server) => server.layer(options))
  )

/**
 * A URL without its password, for messages.
 *
 * @since 0.1.0
 * @category utils
 */
export const redactUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== "") parsed.password = "***"
    return parsed.protocol === "postgres:" || parsed.protocol === "postgresql:" ? parsed.toString() : url
  } catch {
    return url
  }
}

const messageOf = (error: unknown): string =>
  Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== ""
    ? error.message
    : String(error)
