/**
 * The one implementation of `Storage` (`storage.ts`), on `@effect/sql`: built once per SQL client from the
 * statements of each group of tables (`runs.ts`, `approvals.ts`, `policies.ts`, `events.ts`, `audit.ts`,
 * `webhooks.ts`, `actionLinks.ts`, `reminders.ts`), with the wake-ups of `pgWakeups.ts`.
 *
 * @internal
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Beacon from "../beacon.js"
import type { RunRow } from "../rows.js"
import { makeActionLinkStore } from "./actionLinks.js"
import { makeApprovalStore } from "./approvals.js"
import { appendAudit, linkNow } from "./audit.js"
import { appendEvent, auditAfter, auditOfRun, eventsOfRun, lastEventPosition, readEvents } from "./events.js"
import * as PgWakeups from "./pgWakeups.js"
import { makePolicyStore } from "./policies.js"
import { emitDueReminders, insertReminder } from "./reminders.js"
import { makeRepairStore } from "./repairs.js"
import { makeStore } from "./runs.js"
import { type RunEnds, type Signals, Storage, type StorageService } from "./storage.js"
import { makeWebhookStore } from "./webhooks.js"

/** @internal */
export const makeRunEnds = (): RunEnds => {
  const waiting = new Map<string, { readonly deferred: Deferred.Deferred<RunRow>; count: number }>()
  return {
    register: (runId) => {
      let entry = waiting.get(runId)
      if (entry === undefined) {
        entry = { deferred: Deferred.unsafeMake<RunRow>(FiberId.none), count: 0 }
        waiting.set(runId, entry)
      }
      const registered = entry
      registered.count++
      let released = false
      return {
        ended: Deferred.await(registered.deferred),
        release: () => {
          if (released) return
          released = true
          if (--registered.count === 0 && waiting.get(runId) === registered) waiting.delete(runId)
        }
      }
    },
    publish: (row) => {
      const entry = waiting.get(row.id)
      if (entry === undefined) return
      waiting.delete(row.id)
      Deferred.unsafeDone(entry.deferred, Exit.succeed(row))
    }
  }
}

/** Fresh in-process signals. @internal */
export const makeSignals = (): Signals => ({
  work: Beacon.make(),
  changes: Beacon.make(),
  canceled: Effect.runSync(PubSub.unbounded<string>()),
  ended: makeRunEnds()
})

/**
 * The storage of a client, with the signals given: a second client on the same database (the test kit's
 * restartable runner) that must wake, and be woken by, the first. `pg` is the PostgreSQL client the
 * runner's own connections (renewals, `LISTEN`) are opened from, if the database is PostgreSQL.
 *
 * @internal
 */
export const makeWith = (
  client: SqlClient.SqlClient,
  signals: Signals,
  pg: Option.Option<PgClient.PgClient> = Option.none()
): StorageService => {
  const sql = client.withoutTransforms()
  const store = makeStore(sql)
  const transaction = PgWakeups.withTransaction(sql)
  const provideClient = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Option.isSome(pg) ? Effect.provideService(effect, PgClient.PgClient, pg.value) : effect
  return {
    runs: store,
    journal: store,
    leases: store,
    approvals: makeApprovalStore(sql),
    policies: makePolicyStore(sql),
    events: {
      append: (event) => appendEvent(sql, event),
      read: (options) => readEvents(sql, options),
      last: Effect.suspend(() => lastEventPosition(sql)),
      ofRun: (runId) => eventsOfRun(sql, runId)
    },
    audit: {
      append: (entry) => appendAudit(sql, entry),
      ofRun: (runId) => auditOfRun(sql, runId),
      after: (seq, limit) => auditAfter(sql, seq, limit),
      linkNow: Effect.suspend(() => linkNow(sql))
    },
    webhooks: makeWebhookStore(sql),
    actionLinks: makeActionLinkStore(sql),
    reminders: {
      insert: (runId, nodeId, plan) => insertReminder(sql, runId, nodeId, plan),
      emitDue: (now) => emitDueReminders(sql, now)
    },
    repairs: makeRepairStore(sql),
    signals,
    transaction,
    userTransaction: (effect) => client.withTransaction(effect),
    notify: (payload) => PgWakeups.notify(sql, payload),
    notifyAtCommit: (payload) => PgWakeups.notifyAtCommit(sql, payload),
    ping: Effect.asVoid(sql`SELECT 1`),
    databaseClock: Option.isSome(pg),
    dedicatedConnection: Effect.suspend(() => {
      if (Option.isNone(pg)) return Effect.succeed(Option.none())
      return PgClient.make({ ...pg.value.config, maxConnections: 1, minConnections: undefined }).pipe(
        Effect.provide(Reactivity.layer),
        Effect.map((dedicated) => Option.some({ renewLeases: makeStore(dedicated.withoutTransforms()).renewLeases }))
      )
    }),
    listen: (options) => provideClient(PgWakeups.listen({ ...options, sql }))
  }
}

// Keyed by the client: layers of one engine built apart from each other (a client layer here, a runner
// layer there) on the same client still wake each other in process.
const byClient = new WeakMap<SqlClient.SqlClient, StorageService>()

/**
 * The storage of the SQL client in context, built once per client.
 *
 * @internal
 */
export const make: Effect.Effect<StorageService, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const client = yield* SqlClient.SqlClient
  const existing = byClient.get(client)
  if (existing !== undefined) return existing
  const storage = makeWith(client, makeSignals(), yield* Effect.serviceOption(PgClient.PgClient))
  byClient.set(client, storage)
  return storage
})

/**
 * `Storage` on the SQL client in context.
 *
 * @internal
 */
export const layer: Layer.Layer<Storage, never, SqlClient.SqlClient> = Layer.effect(Storage, make)
