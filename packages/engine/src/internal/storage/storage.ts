/**
 * The `Storage` service: everything the engine reads and writes, as one written interface in sections
 * (runs, journal, leases, approvals and votes, policy, events, audit, webhooks, action links, reminders),
 * with a transaction helper. One implementation, on `@effect/sql` (`sqlStorage.ts`), one file per group
 * of tables beside it, as `SqlMessageStorage` sits behind `MessageStorage` in `@effect/cluster`.
 *
 * Public modules call this service; no module outside `internal/storage/` writes SQL or holds the client.
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as PubSub from "effect/PubSub"
import type * as Scope from "effect/Scope"
import type * as Policy from "../../Policy.js"
import type * as Run from "../../Run.js"
import type * as Beacon from "../beacon.js"
import type * as Rows from "../rows.js"
import type { ApprovalRow, ApprovalStatus, StoredReviewers } from "./approvals.js"
import type { ReminderPlan } from "./reminders.js"
import type { ApprovalContextRow, AttemptRow, DeliveryRow, FanOutEvent, StoredSecret, WebhookRow } from "./webhooks.js"

// -----------------------------------------------------------------------------------------------------------
// Signals
// -----------------------------------------------------------------------------------------------------------

/**
 * In-process wake-ups between the client, the registry and the runners of one engine: a start or a
 * completion nudges the runner at once instead of waiting for its next poll. Across processes the
 * runner's polling (and on PostgreSQL, notifications) takes over.
 *
 * @internal
 */
export interface Signals {
  /** Something may be claimable: a run started or woke, a slot freed, a workflow registered. */
  readonly work: Beacon.Beacon
  /** Some run changed state: waiters on results and `settle` look again. */
  readonly changes: Beacon.Beacon
  /** Runs canceled by an operator, so the runner holding one interrupts it. */
  readonly canceled: PubSub.PubSub<string>
  /** Runs that ended in this process, for the waiters on their results. */
  readonly ended: RunEnds
}

/**
 * Waiters on the end of one run: a run that ends in this process hands its final row to whoever waits on
 * it, at once and without another read; a change of any other run wakes nobody.
 *
 * @internal
 */
export interface RunEnds {
  /** Registers a waiter before the caller checks the run; `release` when it stops waiting. */
  readonly register: (runId: string) => { readonly ended: Effect.Effect<Rows.RunRow>; readonly release: () => void }
  readonly publish: (row: Rows.RunRow) => void
}

// -----------------------------------------------------------------------------------------------------------
// Runs
// -----------------------------------------------------------------------------------------------------------

/** A run to insert. @internal */
export interface NewRun {
  readonly id: string
  readonly workflow: string
  readonly idempotencyKey: string | undefined
  readonly payload: string
  readonly startedBy: string | undefined
}

/** A run's end, written by the runner that holds its lease. @internal */
export interface RunEnd {
  readonly runId: string
  readonly owner: string
  readonly status: "completed" | "failed"
  readonly result: unknown
  readonly error: string | undefined
  readonly now: number
}

/** An event for the outbox (`gatehouse_events`). @internal */
export interface NewEvent {
  readonly runId: string | undefined
  readonly nodeId?: string | undefined
  readonly type: string
  readonly actor?: string | undefined
  readonly data?: unknown
  readonly now: number
}

/** An entry for the audit chain (`gatehouse_audit`). @internal */
export interface NewAuditEntry {
  readonly runId: string | undefined
  readonly nodeId?: string | undefined
  readonly action: string
  readonly actor: string
  readonly requestHash?: string | undefined
  readonly note?: string | undefined
  readonly data?: unknown
  readonly now: number
}

/**
 * The rows of `gatehouse_runs`. Writers that change a run's state follow the lock order written above
 * `makeStore` in `runs.ts`: `lockRun` first.
 *
 * @internal
 */
export interface Runs {
  readonly insertRun: (
    run: NewRun & { readonly startGate: Rows.StartGate | undefined; readonly now: number },
    andThen?: Effect.Effect<void, SqlError>
  ) => Effect.Effect<boolean, SqlError>
  readonly insertRuns: (
    runs: ReadonlyArray<NewRun>,
    now: number
  ) => Effect.Effect<{ readonly governed: boolean; readonly created: ReadonlySet<string> }, SqlError>
  readonly getRun: (id: string) => Effect.Effect<Option.Option<Rows.RunRow>, SqlError>
  readonly listRuns: (options: {
    readonly status: Run.RunStatus | undefined
    readonly workflow: string | undefined
    readonly limit: number
    readonly after: readonly [createdAt: number, id: string] | undefined
  }) => Effect.Effect<ReadonlyArray<Rows.RunRow>, SqlError>
  readonly countRunsByStatus: () => Effect.Effect<ReadonlyArray<{ readonly status: string; readonly n: number }>, SqlError>
  /** The run's lock, first of the lock order: held until the transaction ends. */
  readonly lockRun: (runId: string) => Effect.Effect<void, SqlError>
  readonly wake: (runId: string, now: number, link?: string | undefined) => Effect.Effect<void, SqlError>
  readonly cancelRun: (options: {
    readonly runId: string
    readonly result: unknown
    readonly error: string
    readonly now: number
  }) => Effect.Effect<boolean, SqlError>
  readonly freeCanceled: (runId: string, now: number) => Effect.Effect<boolean, SqlError>
  readonly closeOpenWork: (options: {
    readonly runId: string
    readonly now: number
    readonly actor: string
    readonly reason: "run-completed" | "run-failed" | "run-canceled"
    /** The run's own event and audit entry, recorded before those of the approvals it closes. */
    readonly runEvent: NewEvent
    readonly runAudit?: NewAuditEntry | undefined
  }) => Effect.Effect<void, SqlError>
  readonly finishRun: (end: RunEnd) => Effect.Effect<Option.Option<Rows.RunRow>, SqlError>
  /** `finishRun` for many runs in one statement (a shared commit). */
  readonly finishRuns: (ends: ReadonlyArray<RunEnd>) => Effect.Effect<ReadonlyArray<Option.Option<Rows.RunRow>>, SqlError>
  readonly nextWakeAt: (
    names: ReadonlyArray<string>,
    options: { readonly now: number; readonly executing: ReadonlyArray<string> }
  ) => Effect.Effect<Option.Option<number>, SqlError>
  readonly countUnsettled: (names: ReadonlyArray<string>, now: number) => Effect.Effect<number, SqlError>
}

// -----------------------------------------------------------------------------------------------------------
// Journal
// -----------------------------------------------------------------------------------------------------------

/** A node of a run's journal to write. @internal */
export interface NewNode {
  readonly runId: string
  readonly nodeId: string
  readonly kind: Run.NodeKind
  readonly status: Run.NodeStatus
  readonly exit: unknown
  readonly attempt: number
  readonly seq: number
  readonly fireAt: number | undefined
  readonly now: number
  /** JSON Schema of an outside completion (a deferred's), stored by `ensureNode`. */
  readonly jsonSchema?: unknown
}

/**
 * The rows of `gatehouse_nodes`: each run's journal. A checkpoint is fenced on the run's lease.
 *
 * The checkpoint is one write in two forms, documented side by side in `runs.ts`: a PostgreSQL function
 * and a SQLite statement.
 *
 * @internal
 */
export interface Journal {
  readonly loadJournal: (runId: string) => Effect.Effect<ReadonlyArray<Rows.NodeRow>, SqlError>
  readonly loadJournals: (
    runIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyMap<string, ReadonlyArray<Rows.NodeRow>>, SqlError>
  readonly ensureNode: (owner: string, node: NewNode) => Effect.Effect<Option.Option<Rows.NodeRow>, SqlError>
  readonly checkpoint: (owner: string, node: NewNode) => Effect.Effect<boolean, SqlError>
  /** `checkpoint` for many nodes in one statement (a shared commit). */
  readonly checkpointMany: (
    entries: ReadonlyArray<{ readonly owner: string; readonly node: NewNode }>
  ) => Effect.Effect<ReadonlyArray<boolean>, SqlError>
  readonly completeNodeFromOutside: (options: {
    readonly runId: string
    readonly nodeId: string
    readonly kind: Run.NodeKind
    readonly exit: unknown
    readonly now: number
  }) => Effect.Effect<boolean, SqlError>
  readonly getNode: (runId: string, nodeId: string) => Effect.Effect<Option.Option<Rows.NodeRow>, SqlError>
  readonly getNodeJsonSchema: (runId: string, nodeId: string) => Effect.Effect<Option.Option<unknown>, SqlError>
}

// -----------------------------------------------------------------------------------------------------------
// Leases
// -----------------------------------------------------------------------------------------------------------

/** A run claimed by a runner. @internal */
export interface ClaimedRun {
  readonly id: string
  readonly workflow: string
  readonly payload: unknown
  readonly startedBy: string | undefined
  readonly wakeSeq: number
  readonly claims: number
  /** The runner whose lease had expired when this claim took the run over; undefined for an ordinary claim. */
  readonly takenOverFrom: string | undefined
  /** The span (`traceId:spanId`) of what woke the run for this claim (a decision), if any. */
  readonly link: string | undefined
  /** The approval the policy put before the run's body, if it did. */
  readonly startGate: Rows.StartGate | undefined
  /** Set when the run was resumed or forked: its approvals check the decisions they had before. */
  readonly repair: Repair | undefined
}

/**
 * What a repaired run's approvals check their earlier decisions against: a resumed run's own, a fork's
 * origin's (those of nodes before the one it was forked from).
 *
 * @internal
 */
export interface Repair {
  /** The run whose decisions are looked up: the run itself when resumed, its origin when forked. */
  readonly runId: string
  /** For a fork: the origin's journal position it was forked at; only approvals before it are reused. */
  readonly beforeSeq: number | undefined
}

/** A run's suspension, written by the runner that holds its lease. @internal */
export interface Suspension {
  readonly runId: string
  readonly owner: string
  readonly wakeSeq: number
  readonly wakeAt: number | undefined
  readonly status: "suspended" | "waiting-approval"
  readonly now: number
}

/**
 * Runners' leases on runs: claims, renewals, suspensions and releases (single statements).
 *
 * @internal
 */
export interface Leases {
  readonly claim: (options: {
    readonly owner: string
    readonly names: ReadonlyArray<string>
    readonly now: number
    readonly leaseMillis: number
    readonly limit: number
    /** The runs the claiming runner is executing now: never taken over by it. */
    readonly executing: ReadonlyArray<string>
  }) => Effect.Effect<ReadonlyArray<ClaimedRun>, SqlError>
  readonly renewLeases: (options: {
    readonly owner: string
    readonly runIds: ReadonlyArray<string>
    readonly now: number
    readonly leaseMillis: number
  }) => Effect.Effect<ReadonlySet<string>, SqlError>
  readonly suspendRun: (suspension: Suspension) => Effect.Effect<Option.Option<Run.RunStatus>, SqlError>
  /** `suspendRun` for many runs in one statement (a shared commit). */
  readonly suspendRuns: (
    suspensions: ReadonlyArray<Suspension>
  ) => Effect.Effect<ReadonlyArray<Option.Option<Run.RunStatus>>, SqlError>
  readonly releaseRun: (runId: string, owner: string, now: number) => Effect.Effect<void, SqlError>
  readonly releaseAll: (owner: string, now: number) => Effect.Effect<void, SqlError>
  readonly expireLeases: (owner: string, now: number) => Effect.Effect<void, SqlError>
}

/**
 * The statements of one run's execution, as the runner hands them to the run (each one detached from the
 * run's fiber by the runner).
 *
 * @internal
 */
export interface RunStatements extends Runs, Journal, Leases {}

/**
 * A connection of the runner's own, outside the pool (PostgreSQL only): lease renewals go over it.
 *
 * @internal
 */
export interface DedicatedConnection {
  readonly renewLeases: Leases["renewLeases"]
}

/**
 * The runner's link to other processes (PostgreSQL `LISTEN`): what a wake-up asks of it.
 *
 * @internal
 */
export type WakeUp = { readonly _tag: "Wake" } | { readonly _tag: "Cancel"; readonly runId: string }

// -----------------------------------------------------------------------------------------------------------
// Approvals and votes
// -----------------------------------------------------------------------------------------------------------

/**
 * The rows of `gatehouse_approvals`, `gatehouse_approval_assignees` and `gatehouse_votes`.
 *
 * @internal
 */
export interface Approvals {
  readonly get: (runId: string, nodeId: string) => Effect.Effect<Option.Option<ApprovalRow>, SqlError>
  readonly resolve: (
    runId: string,
    nodeId: string,
    options?: { readonly lock?: boolean }
  ) => Effect.Effect<Option.Option<ApprovalRow>, SqlError>
  readonly insert: (row: ApprovalRow) => Effect.Effect<void, SqlError>
  readonly settle: (options: {
    readonly runId: string
    readonly nodeId: string
    readonly status: ApprovalStatus
    readonly decision: unknown
    readonly now: number
  }) => Effect.Effect<boolean, SqlError>
  readonly escalate: (options: {
    readonly runId: string
    readonly nodeId: string
    readonly reviewers: StoredReviewers
    readonly deadline: number
    readonly now: number
  }) => Effect.Effect<boolean, SqlError>
  readonly reissue: (options: {
    readonly runId: string
    readonly nodeId: string
    readonly reviewers: StoredReviewers
    readonly policy: typeof Rows.ApprovalPolicy.Type
    readonly now: number
  }) => Effect.Effect<boolean, SqlError>
  /** Replaces a resumed run's decided approval with the request made now, undecided, in a new round. */
  readonly reopen: (row: ApprovalRow) => Effect.Effect<void, SqlError>
  readonly recordDecider: (runId: string, nodeId: string, actor: string) => Effect.Effect<void, SqlError>
  readonly votes: (runId: string, nodeId: string) => Effect.Effect<ReadonlyArray<Rows.VoteRow>, SqlError>
  readonly insertVote: (vote: {
    readonly runId: string
    readonly nodeId: string
    readonly round: number
    readonly voter: string
    readonly verdict: string
    readonly note: string | undefined
    readonly payloadJson: string | undefined
    readonly requestHash: string
    readonly now: number
  }) => Effect.Effect<void, SqlError>
  readonly pendingCount: Effect.Effect<number, SqlError>
  readonly list: (options: {
    readonly status: ApprovalStatus | undefined
    readonly workflow: string | undefined
    readonly principals: ReadonlyArray<string> | undefined
    readonly decidedBy: string | undefined
    readonly order: "requested" | "newest" | "deadline"
    readonly after: readonly [key: number, runId: string, nodeId: string] | undefined
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<ApprovalRow>, SqlError>
}

// -----------------------------------------------------------------------------------------------------------
// Policy
// -----------------------------------------------------------------------------------------------------------

/**
 * The active policy, its history, the evaluations recorded and the throttle windows.
 *
 * @internal
 */
export interface Policies {
  readonly active: Effect.Effect<Option.Option<Rows.ActivePolicyRow>, SqlError>
  readonly history: (limit: number) => Effect.Effect<ReadonlyArray<Rows.ActivePolicyRow>, SqlError>
  readonly activate: (input: {
    readonly snapshotId: string
    readonly version: string
    readonly document: unknown
    readonly by: string
    readonly now: number
  }) => Effect.Effect<void, SqlError>
  readonly recordEvaluation: (input: {
    readonly runId: string | undefined
    readonly nodeId: string | undefined
    readonly evaluation: Policy.Evaluation
    readonly action: Policy.Action
    readonly actor: string
    readonly now: number
  }) => Effect.Effect<void, SqlError>
  readonly admit: (input: {
    readonly key: string
    readonly windowStart: number
    readonly limit: number
  }) => Effect.Effect<boolean, SqlError>
  readonly evaluationsSince: (since: number, limit: number) => Effect.Effect<ReadonlyArray<Rows.EvaluationRow>, SqlError>
  readonly evaluationsOf: (runId: string) => Effect.Effect<ReadonlyArray<Rows.EvaluationRow>, SqlError>
}

// -----------------------------------------------------------------------------------------------------------
// Events and audit
// -----------------------------------------------------------------------------------------------------------

/**
 * The events outbox (`gatehouse_events`), read in commit order.
 *
 * @internal
 */
export interface Events {
  /** Appends inside the caller's transaction (the change it reports). */
  readonly append: (event: NewEvent) => Effect.Effect<void, SqlError>
  readonly read: (options: {
    readonly after: readonly [tx: number, seq: number]
    readonly limit: number
    readonly runId?: string | undefined
  }) => Effect.Effect<ReadonlyArray<Rows.EventRow>, SqlError>
  readonly last: Effect.Effect<ReadonlyArray<Rows.EventRow>, SqlError>
  readonly ofRun: (runId: string) => Effect.Effect<ReadonlyArray<Rows.EventRow>, SqlError>
}

/**
 * The hash-chained audit log (`gatehouse_audit`). The chain's lock is the last of the lock order.
 *
 * @internal
 */
export interface Audit {
  /** Appends inside the caller's transaction; linked into the chain after it commits. */
  readonly append: (entry: NewAuditEntry) => Effect.Effect<void, SqlError>
  readonly ofRun: (runId: string) => Effect.Effect<ReadonlyArray<Rows.AuditRow>, SqlError>
  readonly after: (seq: number, limit: number) => Effect.Effect<ReadonlyArray<Rows.AuditRow>, SqlError>
  /** Links every appended entry into the chain now (tests that read the raw table). */
  readonly linkNow: Effect.Effect<void, SqlError>
}

// -----------------------------------------------------------------------------------------------------------
// Webhooks
// -----------------------------------------------------------------------------------------------------------

/** A webhook to register. @internal */
export interface NewWebhook {
  readonly id: string
  readonly url: string
  readonly description: string | undefined
  readonly eventTypes: ReadonlyArray<string> | undefined
  readonly workflows: ReadonlyArray<string> | undefined
  readonly secrets: ReadonlyArray<typeof StoredSecret.Type>
  readonly enabled: boolean
  readonly maxConcurrency: number
  readonly format: "standard" | "slack"
  readonly reviewer: { readonly id: string; readonly roles?: ReadonlyArray<string> | undefined } | undefined
  readonly now: number
}

/**
 * Webhooks, their deliveries (an outbox fanned out from the events) and their attempts.
 *
 * @internal
 */
export interface Webhooks {
  readonly insertWebhook: (row: NewWebhook) => Effect.Effect<void, SqlError>
  readonly listWebhooks: Effect.Effect<ReadonlyArray<WebhookRow>, SqlError>
  readonly getWebhook: (id: string) => Effect.Effect<WebhookRow | undefined, SqlError>
  readonly updateWebhook: (id: string, update: {
    readonly enabled?: boolean | undefined
    readonly secrets?: ReadonlyArray<typeof StoredSecret.Type> | undefined
    readonly now: number
  }) => Effect.Effect<boolean, SqlError>
  readonly deleteWebhook: (id: string) => Effect.Effect<boolean, SqlError>
  readonly fanOut: (
    limit: number,
    plan: (
      events: ReadonlyArray<FanOutEvent>,
      approvalContext: (
        runId: string,
        nodeId: string
      ) => Effect.Effect<typeof ApprovalContextRow.Type | undefined, SqlError>
    ) => Effect.Effect<
      ReadonlyArray<{
        readonly id: string
        readonly webhookId: string
        readonly event: FanOutEvent
        readonly body: string
        readonly now: number
      }>,
      SqlError
    >
  ) => Effect.Effect<number, SqlError>
  readonly insertDelivery: (row: {
    readonly id: string
    readonly webhookId: string
    readonly eventTx: number | undefined
    readonly eventSeq: number | undefined
    readonly runId: string | undefined
    readonly type: string
    readonly body: string
    readonly now: number
  }) => Effect.Effect<void, SqlError>
  readonly claim: (options: {
    readonly owner: string
    readonly now: number
    readonly leaseMillis: number
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<DeliveryRow>, SqlError>
  readonly finishAttempt: (options: {
    readonly seq: number
    readonly owner: string
    readonly attempt: number
    readonly startedAt: number
    readonly statusCode: number | undefined
    readonly latencyMs: number
    readonly error: string | undefined
    readonly response: string | undefined
    readonly next: { readonly _tag: "Delivered" } | { readonly _tag: "Retry"; readonly at: number } | {
      readonly _tag: "Dead"
    }
    readonly now: number
  }) => Effect.Effect<boolean, SqlError>
  readonly listDeliveries: (options: {
    readonly webhookId?: string | undefined
    readonly status?: string | undefined
    readonly runId?: string | undefined
    readonly afterSeq?: number | undefined
    readonly limit: number
  }) => Effect.Effect<ReadonlyArray<DeliveryRow>, SqlError>
  readonly getDelivery: (id: string) => Effect.Effect<DeliveryRow | undefined, SqlError>
  readonly attemptsOf: (seq: number) => Effect.Effect<ReadonlyArray<AttemptRow>, SqlError>
  readonly redeliver: (id: string, now: number) => Effect.Effect<boolean, SqlError>
  readonly prune: (before: number) => Effect.Effect<number, SqlError>
}

// -----------------------------------------------------------------------------------------------------------
// Action links and reminders
// -----------------------------------------------------------------------------------------------------------

/**
 * Single-use decision links (`gatehouse_action_links`), kept by the hash of their token.
 *
 * @internal
 */
export interface ActionLinks {
  readonly insert: (link: Rows.ActionLinkRow) => Effect.Effect<void, SqlError>
  readonly get: (
    tokenHash: string,
    options?: { readonly lock?: boolean }
  ) => Effect.Effect<Option.Option<Rows.ActionLinkRow>, SqlError>
  readonly markUsed: (tokenHash: string, now: number) => Effect.Effect<boolean, SqlError>
}

/**
 * Reminders of open approvals (`gatehouse_reminders`).
 *
 * @internal
 */
export interface Reminders {
  readonly insert: (runId: string, nodeId: string, plan: ReminderPlan) => Effect.Effect<void, SqlError>
  /** Emits the reminders due by `now` as events; returns how many. */
  readonly emitDue: (now: number) => Effect.Effect<number, SqlError>
}

// -----------------------------------------------------------------------------------------------------------
// Repairs
// -----------------------------------------------------------------------------------------------------------

/** A fork to insert. @internal */
export interface NewFork {
  readonly id: string
  readonly workflow: string
  readonly payload: string
  readonly startedBy: string | undefined
  readonly origin: string
  readonly fromNode: string
  /** The origin's journal position of `fromNode`: the fork starts with the completed nodes before it. */
  readonly beforeSeq: number
  /** The origin's forks with this one, oldest first. */
  readonly originForks: ReadonlyArray<string>
  readonly now: number
}

/**
 * Resumes and forks of ended runs (`Workflows.resume`, `Workflows.fork`), under the run's lock.
 *
 * @internal
 */
export interface Repairs {
  /** Makes a failed or canceled run runnable again, counting the repair. False if it was neither. */
  readonly reopenRun: (options: { readonly runId: string; readonly now: number }) => Effect.Effect<boolean, SqlError>
  /** Takes nodes out of a run's journal: they run again when the run replays. */
  readonly dropNodes: (runId: string, nodeIds: ReadonlyArray<string>) => Effect.Effect<void, SqlError>
  /** Inserts a fork with its origin's journal prefix, and records it on the origin. */
  readonly insertFork: (fork: NewFork) => Effect.Effect<void, SqlError>
}

// -----------------------------------------------------------------------------------------------------------
// The service
// -----------------------------------------------------------------------------------------------------------

/**
 * Everything the engine reads and writes, built once per SQL client, and the in-process signals.
 *
 * @internal
 */
export interface StorageService {
  readonly runs: Runs
  readonly journal: Journal
  readonly leases: Leases
  readonly approvals: Approvals
  readonly policies: Policies
  readonly events: Events
  readonly audit: Audit
  readonly webhooks: Webhooks
  readonly actionLinks: ActionLinks
  readonly reminders: Reminders
  readonly repairs: Repairs
  readonly signals: Signals
  /**
   * Runs `effect` in one transaction (a savepoint when nested). What must follow the commit (wake-ups of
   * other processes, linking audit entries into the chain) is done once it has committed.
   */
  readonly transaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
  /**
   * Runs `effect` in a plain transaction of the client (a savepoint when nested): `Step.transaction`, whose
   * effect is the user's own and may use the client (`SqlClient`) in context.
   */
  readonly userTransaction: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>
  /** Wakes runners in other processes (PostgreSQL `NOTIFY`, after the commit inside `transaction`). */
  readonly notify: (payload: string) => Effect.Effect<void, SqlError>
  /** Wakes runners in other processes from inside the caller's transaction, delivered at its commit. */
  readonly notifyAtCommit: (payload: string) => Effect.Effect<void, SqlError>
  /** One round trip to the database: the health check. */
  readonly ping: Effect.Effect<void, SqlError>
  /** True on PostgreSQL: leases are measured on the database's clock there. */
  readonly databaseClock: boolean
  /**
   * A connection of its own for the runner's lease renewals (PostgreSQL only; none elsewhere), closed
   * with the scope.
   */
  readonly dedicatedConnection: Effect.Effect<Option.Option<DedicatedConnection>, SqlError, Scope.Scope>
  /** Listens for wake-ups from other processes (PostgreSQL only; returns at once elsewhere). */
  readonly listen: (options: {
    readonly runnerId: string
    readonly heartbeat: Duration.Duration
    readonly onMessage: (message: WakeUp) => Effect.Effect<void>
    readonly onSubscribed: Effect.Effect<void>
  }) => Effect.Effect<void>
}

/**
 * @internal
 */
export class Storage extends Context.Tag("@gatehouse/engine/internal/Storage")<Storage, StorageService>() {}
