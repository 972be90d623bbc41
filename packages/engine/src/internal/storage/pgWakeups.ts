import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { createRequire } from "node:module"
import * as AfterCommit from "../afterCommit.js"
import * as AuditChain from "./audit.js"

/**
 * Wake-ups across processes through PostgreSQL `LISTEN/NOTIFY`.
 *
 * The channel is derived from the schema the engine's tables live in (its `current_schema()`), so two
 * deployments (or two tests) sharing one database in different schemas do not wake each other. Channel
 * names are identifiers, cut by PostgreSQL at 63 bytes: the same cut is applied on both sides so the
 * names always match.
 *
 * @internal
 */
const channelExpression = "left('gatehouse_wake.' || current_schema(), 63)"

const send = (sql: SqlClient.SqlClient, payload: string): Effect.Effect<void, SqlError> =>
  Effect.asVoid(sql`SELECT pg_notify(${sql.literal(channelExpression)}, ${payload})`)

/**
 * Sends a wake-up, on PostgreSQL only: in-process signals and polling are all there is elsewhere.
 *
 * Inside a transaction run by `withTransaction` it is sent after that transaction commits, in a statement
 * of its own: PostgreSQL serializes the commits of notifying transactions server-wide (one lock held
 * through the commit's WAL flush), so a hot transaction that notified would queue behind every other one.
 * A listener still never wakes before the change it announces is visible. If the process dies between the
 * commit and the wake-up, the runners' polling finds the work. Inside any other transaction it is sent
 * from within it (PostgreSQL delivers it on commit and drops it on rollback); outside one, at once.
 *
 * Payloads: a run id (that run became runnable), `cancel:<runId>` (the runner holding it should stop),
 * `released` (a runner gave back its runs), `ping:<runnerId>:<n>` (a listener checking its connection).
 *
 * @internal
 */
export const notify = (sql: SqlClient.SqlClient, payload: string): Effect.Effect<void, SqlError> =>
  sql.onDialectOrElse({
    pg: () =>
      Effect.flatMap(FiberRef.get(AfterCommit.current), (pending) => {
        if (pending === undefined) return send(sql, payload)
        pending.wakeups.push(payload)
        return Effect.void
      }),
    orElse: () => Effect.void
  })

/**
 * Sends a wake-up from inside the caller's transaction, whatever started it: PostgreSQL delivers it the
 * moment the transaction commits, one round trip sooner than `notify` after the commit. For the wake-ups
 * whose latency a person sees (a decision or an outside completion resuming a run elsewhere), which come at
 * the rate people decide, not at the rate runs start: their transactions pay the notify lock at commit.
 *
 * @internal
 */
export const notifyAtCommit = (sql: SqlClient.SqlClient, payload: string): Effect.Effect<void, SqlError> =>
  sql.onDialectOrElse({ pg: () => send(sql, payload), orElse: () => Effect.void })

/**
 * Sends a wake-up for a change already committed, in a fiber of its own: the caller goes on at once. A
 * failure to send is logged; the runners' polling finds the work.
 *
 * @internal
 */
export const notifyCommitted = (sql: SqlClient.SqlClient, payload: string): Effect.Effect<void> =>
  sql.onDialectOrElse({
    pg: () =>
      send(sql, payload).pipe(
        Effect.catchAllCause((cause) => Effect.logDebug("Gatehouse could not send a wake-up; polling will find the work", cause)),
        Effect.forkDaemon,
        Effect.asVoid
      ),
    orElse: () => Effect.void
  })

/**
 * `sql.withTransaction`, with what must follow its commit done once it has committed, in fibers of their
 * own: the wake-ups `notify` recorded inside it are sent (and dropped if it rolls back), and the audit
 * entries it appended are linked into the chain (`AuditChain`). A failure there is logged, not raised: the
 * change is committed, the runners' polling finds the work, and the next link of the chain links them.
 * Nested in another transaction it is that transaction's savepoint, and what it leaves goes with the outer.
 *
 * @internal
 */
export const withTransaction = (sql: SqlClient.SqlClient) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
  Effect.flatMap(
    Effect.zip(FiberRef.get(AfterCommit.current), Effect.serviceOption(SqlClient.TransactionConnection)),
    ([outer, transaction]) => {
      if (outer !== undefined || Option.isSome(transaction)) return sql.withTransaction(effect)
      let begun = false
      return Effect.suspend(() => {
        begun = false
        const pending: AfterCommit.AfterCommit = { wakeups: [], auditAppended: false }
        const body = Effect.zipRight(Effect.sync(() => { begun = true }), Effect.zipRight(takeWriteLock(sql), effect))
        // Done beside the caller, not before it returns: a decision's own process (its runner, a waiter on
        // the result) is woken in process at once, and the caller does not wait one more round trip.
        return sql.withTransaction(Effect.locally(body, AfterCommit.current, pending)).pipe(
          Effect.tap(() =>
            Effect.zipRight(
              Effect.forEach(new Set(pending.wakeups), (payload) => notifyCommitted(sql, payload), { discard: true }),
              pending.auditAppended ? AuditChain.linkSoon(sql) : Effect.void
            )
          )
        )
      }).pipe(
        Effect.retry({ while: isStaleSnapshot, schedule: staleSnapshotRetries }),
        Effect.retry({ while: (error) => !begun && isLostConnection(error), times: 3 })
      )
    }
  )

/**
 * On SQLite, the file's write lock, taken by the transaction's first statement (a write that changes no
 * row), as `BEGIN IMMEDIATE` would: it waits for another process's write (the busy timeout) instead of
 * reading first and finding its snapshot stale at its first write, which fails at once and, against a
 * process that writes all the time, again on every try. Nothing elsewhere: PostgreSQL locks rows.
 */
const takeWriteLock = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  sql.onDialectOrElse({
    sqlite: () => Effect.asVoid(sql`UPDATE gatehouse_runs SET id = id WHERE 0`),
    orElse: () => Effect.void
  })

/**
 * SQLite refuses a write in a transaction that read before another connection (a worker, the CLI) committed:
 * its snapshot is stale (`SQLITE_BUSY_SNAPSHOT`, "database is locked"), at once, without the busy timeout. The
 * transaction rolled back; it is tried again whole, on a fresh snapshot. PostgreSQL never fails this way.
 */
const isStaleSnapshot = (error: unknown): boolean =>
  Predicate.isTagged(error, "SqlError") && Predicate.hasProperty(error, "cause") &&
  Predicate.hasProperty(error.cause, "code") && error.cause.code === "SQLITE_BUSY_SNAPSHOT"

/**
 * A pooled PostgreSQL connection whose server end went away (a restart, a failover, a terminated backend)
 * can be handed out before node-postgres has seen it close: its first statement fails. When that statement
 * is the transaction's `BEGIN`, nothing of the transaction reached the server and it is tried again on
 * another connection. A connection lost after that is the caller's `StorageError`: the outcome of what was
 * sent is not known here.
 */
const isLostConnection = (error: unknown): boolean => {
  if (!Predicate.isTagged(error, "SqlError") || !Predicate.hasProperty(error, "cause")) return false
  const cause = error.cause
  if (Predicate.hasProperty(cause, "code") && typeof cause.code === "string") {
    return cause.code.startsWith("08") || cause.code.startsWith("57P0")
  }
  return cause instanceof Error &&
    /Connection terminated|not queryable|ECONNRESET|EPIPE/.test(cause.message)
}

/** A few milliseconds, growing, for at most 30 s in all: as long as a statement waits for a lock. */
const staleSnapshotRetries = Schedule.exponential("5 millis").pipe(
  Schedule.union(Schedule.spaced("250 millis")),
  Schedule.upTo("30 seconds")
)

/**
 * What a wake-up asks of the runner.
 *
 * @internal
 */
export type Message =
  | { readonly _tag: "Wake" }
  | { readonly _tag: "Cancel"; readonly runId: string }

/** @internal */
export const parse = (payload: string): Message =>
  payload.startsWith("cancel:") ? { _tag: "Cancel", runId: payload.slice("cancel:".length) } : { _tag: "Wake" }

/** The subset of node-postgres' `Client` the listener uses. */
interface ListenClient {
  connect(): Promise<void>
  query(text: string, params?: ReadonlyArray<unknown>): Promise<unknown>
  end(): Promise<void>
  on(event: "notification", listener: (message: { channel: string; payload?: string }) => void): void
  on(event: "error" | "end", listener: (error?: Error) => void): void
  readonly connection?: { readonly stream?: { destroy(): void } }
}

/**
 * node-postgres, resolved from `@effect/sql-pg` (which depends on it): the listener opens a client of its
 * own so that it can destroy its socket, which `PgClient.listen` does not allow.
 */
let pgModule: { readonly Client: new(options: object) => ListenClient } | undefined
const loadPg = () => {
  if (pgModule === undefined) {
    const fromHere = createRequire(import.meta.url)
    const loaded = createRequire(fromHere.resolve("@effect/sql-pg/PgClient"))("pg")
    pgModule = loaded.default ?? loaded
  }
  return pgModule!
}

/** The connection options of the `PgClient`, for one more connection like its own. */
const connectionOptions = (config: PgClient.PgClientConfig, timeout: Duration.Duration) => ({
  connectionString: config.url ? Redacted.value(config.url) : undefined,
  user: config.username,
  host: config.host,
  database: config.database,
  password: config.password ? Redacted.value(config.password) : undefined,
  ssl: config.ssl,
  port: config.port,
  ...(config.stream ? { stream: config.stream } : {}),
  application_name: config.applicationName ?? "@effect/sql-pg",
  types: config.types,
  connectionTimeoutMillis: Math.max(1, Duration.toMillis(timeout)),
  keepAlive: true
})

/** A promise of the client as an Effect, abandoned (not awaited) when interrupted. */
const attempt = <A>(what: string, run: () => Promise<A>): Effect.Effect<A, ListenLost> =>
  Effect.async<A, ListenLost>((resume) => {
    run().then(
      (value) => resume(Effect.succeed(value)),
      (cause) => resume(Effect.fail(new ListenLost({ reason: `${what}: ${cause}` })))
    )
  })

/**
 * Listens for wake-ups as long as the surrounding fiber lives, on PostgreSQL only (it returns at once on
 * any other client).
 *
 * The listener holds a connection of its own (outside the pool) and checks it end to end: every
 * `heartbeat` it notifies itself over that connection and expects its own ping back. A connection that
 * died, whether PostgreSQL closed it (a restart, an administrator) or the network drops its traffic
 * without closing it, stops echoing: the listener then destroys its socket without waiting for any
 * answer and subscribes again on a fresh connection. After every (re)subscription `onSubscribed` runs,
 * because notifications sent while nobody listened are gone: the runner looks for work once.
 *
 * Every teardown is bounded: closing the listener (a runner shutting down) waits at most a second for
 * PostgreSQL to acknowledge, then destroys the socket, whatever the network does.
 *
 * Heartbeats are measured on the live clock even under `TestClock`: they watch a network connection, not
 * workflow time, and a test moving time by days must not count as days of silence.
 *
 * @internal
 */
export const listen = (options: {
  readonly sql: SqlClient.SqlClient
  readonly runnerId: string
  readonly heartbeat: Duration.Duration
  readonly onMessage: (message: Message) => Effect.Effect<void>
  readonly onSubscribed: Effect.Effect<void>
}): Effect.Effect<void> =>
  Effect.gen(function*() {
    const pgClient = yield* Effect.serviceOption(PgClient.PgClient)
    if (Option.isNone(pgClient)) return
    const config = pgClient.value.config
    let channel: string | undefined
    let sequence = 0
    const pingPrefix = `ping:${options.runnerId}:`
    const bound = Duration.max(options.heartbeat, Duration.seconds(1))

    const connect = Effect.acquireRelease(
      Effect.suspend(() => {
        const client = new (loadPg().Client)(connectionOptions(config, bound))
        // Errors surface through the heartbeat (and `broken`); an unhandled "error" event would crash.
        client.on("error", () => {})
        return attempt("connect", () => client.connect()).pipe(
          Effect.as(client),
          Effect.onInterrupt(() => Effect.sync(() => client.connection?.stream?.destroy()))
        )
      }),
      (client) =>
        attempt("end", () => client.end()).pipe(
          Effect.timeout("1 second"),
          Effect.ignore,
          Effect.ensuring(Effect.sync(() => client.connection?.stream?.destroy()))
        )
    )

    const session = Effect.gen(function*() {
      const client = yield* connect.pipe(
        Effect.timeoutFail({ duration: bound, onTimeout: () => new ListenLost({ reason: "connect timed out" }) })
      )
      if (channel === undefined) {
        const result = yield* attempt("channel", () => client.query(`SELECT ${channelExpression} AS channel`)).pipe(
          Effect.timeoutFail({ duration: bound, onTimeout: () => new ListenLost({ reason: "channel timed out" }) })
        )
        channel = (result as { rows: ReadonlyArray<{ channel: string }> }).rows[0].channel
      }
      const listening = channel
      const broken = yield* Deferred.make<never, ListenLost>()
      const received = yield* Queue.unbounded<string>()
      client.on("notification", (message) => {
        if (message.channel === listening && message.payload) Queue.unsafeOffer(received, message.payload)
      })
      client.on("error", (error) => Deferred.unsafeDone(broken, Exit.fail(new ListenLost({ reason: `${error}` }))))
      client.on("end", () => Deferred.unsafeDone(broken, Exit.fail(new ListenLost({ reason: "connection ended" }))))
      const pongs = yield* Queue.sliding<number>(16)
      yield* Queue.take(received).pipe(
        Effect.flatMap((payload) => {
          if (payload.startsWith(pingPrefix)) return Queue.offer(pongs, Number(payload.slice(pingPrefix.length)))
          if (payload.startsWith("ping:")) return Effect.void
          return options.onMessage(parse(payload))
        }),
        Effect.forever,
        Effect.forkScoped
      )
      const escaped = `"${listening.replace(/"/g, '""')}"`
      yield* attempt("listen", () => client.query(`LISTEN ${escaped}`)).pipe(
        Effect.timeoutFail({ duration: bound, onTimeout: () => new ListenLost({ reason: "LISTEN timed out" }) })
      )
      // The ping goes over the listening connection itself: its echo proves both directions of it.
      const ping = Effect.gen(function*() {
        const n = ++sequence
        // Not `NOTIFY channel, $1`: PostgreSQL rejects it (NOTIFY takes no parameters).
        yield* attempt("ping", () => client.query("SELECT pg_notify($1, $2)", [listening, `${pingPrefix}${n}`]))
        yield* Queue.take(pongs).pipe(Effect.repeat({ until: (received) => received >= n }))
      }).pipe(
        Effect.timeoutFail({ duration: options.heartbeat, onTimeout: () => new ListenLost({ reason: "no echo" }) })
      )
      const run = Effect.gen(function*() {
        yield* ping
        yield* options.onSubscribed
        while (true) {
          yield* Effect.sleep(options.heartbeat)
          yield* ping
        }
      })
      return yield* Effect.raceFirst(run, Deferred.await(broken))
    })

    yield* Effect.scoped(session).pipe(
      Effect.catchAllCause((cause) =>
        Effect.logDebug("Gatehouse runner lost its LISTEN connection; subscribing again", cause)
      ),
      Effect.repeat(Schedule.spaced(Duration.min(options.heartbeat, Duration.seconds(1)))),
      Effect.withClock(Clock.make())
    )
  }).pipe(Effect.asVoid)

/** The listening connection is presumed dead: no echo of a ping within the heartbeat, or it failed. */
class ListenLost extends Data.TaggedError("ListenLost")<{ readonly reason: string }> {}
