/**
 * The events outbox: every state change of runs and approvals (`run.started`, `approval.requested`,
 * `approval.decided`, `approval.timed-out`, `approval.escalated`, `run.completed`, `run.failed`,
 * `run.canceled`, …) is appended in the same transaction as the change. Consumers read them in order
 * from a cursor they keep: delivery is at least once and resumable.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { mapStorage, mapStorageStream } from "./internal/storageError.js"
import type { StorageError } from "./StorageError.js"
import * as Storage from "./internal/storage.js"

/**
 * @since 0.1.0
 * @category models
 */
export class Event extends Schema.Class<Event>("@gatehouse/engine/Events/Event")({
  /** Pass it back as `after` to read what follows this event. */
  cursor: Schema.String,
  type: Schema.String,
  runId: Schema.optional(Schema.String),
  nodeId: Schema.optional(Schema.String),
  actor: Schema.optional(Schema.String),
  data: Schema.optional(Schema.Unknown),
  createdAt: Schema.Number
}) {}

/**
 * The cursor is not one this API returned.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCursor extends Schema.TaggedError<InvalidCursor>("@gatehouse/engine/InvalidCursor")(
  "InvalidCursor",
  { cursor: Schema.String }
) {
  override get message(): string {
    return `Invalid cursor: "${this.cursor.length > 60 ? `${this.cursor.slice(0, 60)}…` : this.cursor}" is not one this API returned`
  }
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Events extends Context.Tag("@gatehouse/engine/Events")<Events, {
  /** Up to `limit` events after the cursor (from the beginning without one), in commit order. */
  readonly read: (options?: {
    readonly after?: string | undefined
    readonly limit?: number | undefined
    readonly runId?: string | undefined
  }) => Effect.Effect<ReadonlyArray<Event>, InvalidCursor | StorageError>
  /**
   * The cursor of the last event visible now (absent when there is none): `stream({ after })` from it
   * gives only what commits from now on, and misses none of it.
   */
  readonly latest: Effect.Effect<string | undefined, StorageError>
  /** Every event after the cursor, then new ones as they commit (looking every `pollInterval`). */
  readonly stream: (options?: {
    readonly after?: string | undefined
    readonly pollInterval?: Duration.DurationInput | undefined
  }) => Stream.Stream<Event, InvalidCursor | StorageError>
}>() {}

const parseCursor = (cursor: string): Option.Option<readonly [number, number]> => {
  const match = /^(\d+)-(\d+)$/.exec(cursor)
  return match === null ? Option.none() : Option.some([Number(match[1]), Number(match[2])] as const)
}

// The service on `Storage`; `make` builds it on the SQL client in context.
const makeOn: Effect.Effect<Events["Type"], never, Storage.Storage> = Effect.gen(function*() {
  const storage = yield* Storage.Storage

  const read = (options: { readonly after?: string | undefined; readonly limit?: number | undefined; readonly runId?: string | undefined } = {}) =>
    Effect.gen(function*() {
      const after = options.after === undefined ? Option.some([0, 0] as const) : parseCursor(options.after)
      if (Option.isNone(after)) return yield* new InvalidCursor({ cursor: options.after! })
      const limit = Math.min(Math.max(1, Math.floor(options.limit ?? 100)), 1000)
      const rows = yield* storage.events.read({ after: after.value, limit, runId: options.runId })
      return rows.map(({ seq, tx, ...event }) => new Event({ ...event, cursor: `${tx}-${seq}` }))
    }).pipe(mapStorage("Events.read"))

  const stream = (
    options: { readonly after?: string | undefined; readonly pollInterval?: Duration.DurationInput | undefined } = {}
  ): Stream.Stream<Event, InvalidCursor | StorageError> =>
    Stream.paginateChunkEffect(options.after, (after: string | undefined) =>
      Effect.gen(function*() {
        const events = yield* read({ after, limit: 500 })
        if (events.length > 0) {
          return [Chunk.fromIterable(events), Option.some(events[events.length - 1].cursor)] as const
        }
        yield* Effect.sleep(options.pollInterval ?? Duration.seconds(1))
        return [Chunk.empty<Event>(), Option.some(after)] as const
      })).pipe(mapStorageStream("Events.stream"))

  const latest = storage.events.last.pipe(
    Effect.map((rows) => rows.length === 0 ? undefined : `${rows[0].tx}-${rows[0].seq}`),
    mapStorage("Events.latest")
  )

  return Events.of({ read, latest, stream })
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Events["Type"], never, SqlClient.SqlClient> = Effect.provide(makeOn, Storage.layer)

/**
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Events, never, SqlClient.SqlClient> = Layer.effect(Events, make)
