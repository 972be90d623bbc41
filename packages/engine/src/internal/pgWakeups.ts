import * as PgClient from "@effect/sql-pg/PgClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"

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

/**
 * Sends a wake-up from SQL. Inside a transaction PostgreSQL delivers it on commit (and drops it on
 * rollback), so a listener never wakes before the change it announces is visible. On other dialects
 * nothing is sent: in-process signals and polling are all there is.
 *
 * Payloads: a run id (that run became runnable), `cancel:<runId>` (the runner holding it should stop),
 * `released` (a runner gave back its runs), `ping:<runnerId>:<n>` (a listener checking its connection).
 *
 * @internal
 */
export const notify = (sql: SqlClient.SqlClient, payload: string): Effect.Effect<void, SqlError> =>
  sql.onDialectOrElse({
    pg: () => Effect.asVoid(sql`SELECT pg_notify(${sql.literal(channelExpression)}, ${payload})`),
    orElse: () => Effect.void
  })

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

/**
 * Listens for wake-ups as long as the surrounding fiber lives, on PostgreSQL only (it returns at once on
 * any other client).
 *
 * The listening connection of `@effect/sql-pg` swallows its own errors: a connection that PostgreSQL
 * terminated (a restart, a failover, an administrator) goes silent rather than failing the stream. So the
 * listener checks it end to end: every `heartbeat` it notifies itself on the same channel and expects its
 * own ping back; when none arrives in time it drops the subscription (which closes that connection) and
 * subscribes again. After every (re)subscription `onSubscribed` runs, because notifications sent while
 * nobody listened are gone: the runner looks for work once.
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
    const client = yield* Effect.serviceOption(PgClient.PgClient)
    if (Option.isNone(client)) return
    const pg = client.value
    const sql = options.sql
    let channel: string | undefined
    let sequence = 0
    const pingPrefix = `ping:${options.runnerId}:`

    const session = Effect.gen(function*() {
      channel ??= (yield* sql<{ channel: string }>`SELECT ${sql.literal(channelExpression)} AS channel`)[0].channel
      const pongs = yield* Queue.sliding<number>(16)
      yield* pg.listen(channel).pipe(
        Stream.runForEach((payload) => {
          if (payload.startsWith(pingPrefix)) return Queue.offer(pongs, Number(payload.slice(pingPrefix.length)))
          if (payload.startsWith("ping:")) return Effect.void
          return options.onMessage(parse(payload))
        }),
        Effect.forkScoped
      )
      const ping = (timeout: Duration.Duration) => Effect.gen(function*() {
        const n = ++sequence
        // Not `PgClient.notify`: it sends `NOTIFY channel, $1`, which PostgreSQL rejects (NOTIFY takes no parameters).
        yield* sql`SELECT pg_notify(${channel!}, ${`${pingPrefix}${n}`})`
        return yield* Queue.take(pongs).pipe(
          Effect.repeat({ until: (received) => received >= n }),
          Effect.timeoutFail({
            duration: timeout,
            onTimeout: () => new ListenLost()
          })
        )
      })
      // The LISTEN runs in the forked stream: until a first ping comes back it may not be in place yet, so
      // ping quickly until one does.
      const first = Duration.millis(100)
      yield* ping(first).pipe(
        Effect.retry(Schedule.recurs(Math.max(1, Math.ceil(Duration.toMillis(options.heartbeat) / 100))))
      )
      yield* options.onSubscribed
      while (true) {
        yield* Effect.sleep(options.heartbeat)
        yield* ping(options.heartbeat)
      }
    })

    yield* Effect.scoped(session).pipe(
      Effect.catchAllCause((cause) =>
        Effect.logDebug("Gatehouse runner lost its LISTEN connection; subscribing again", cause)
      ),
      Effect.repeat(Schedule.spaced(Duration.min(options.heartbeat, Duration.seconds(1)))),
      Effect.withClock(Clock.make())
    )
  }).pipe(Effect.asVoid)

/** No echo of a ping within the heartbeat: the LISTEN connection is presumed dead. */
class ListenLost extends Data.TaggedError("ListenLost")<{}> {}
