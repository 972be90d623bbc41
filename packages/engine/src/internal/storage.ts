import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as PubSub from "effect/PubSub"
import { makeApprovalStore } from "./approvals.js"
import * as Beacon from "./beacon.js"
import { makePolicyStore } from "./policyStore.js"
import { makeStore, type RunRow } from "./store.js"

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
  readonly register: (runId: string) => { readonly ended: Effect.Effect<RunRow>; readonly release: () => void }
  readonly publish: (row: RunRow) => void
}

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

/**
 * Everything the engine reads and writes, built once per SQL client: the statements on runs, leases and
 * the journal, on approvals with their assignees and votes, and the in-process signals. Public modules
 * call it; none of them writes SQL.
 *
 * @internal
 */
export class Storage extends Context.Tag("@gatehouse/engine/internal/Storage")<Storage, {
  readonly sql: SqlClient.SqlClient
  readonly runs: ReturnType<typeof makeStore>
  readonly approvals: ReturnType<typeof makeApprovalStore>
  readonly policies: ReturnType<typeof makePolicyStore>
  readonly signals: Signals
}>() {}

// Keyed by the client: layers of one engine built apart from each other (a client layer here, a runner
// layer there) on the same client still wake each other in process.
const byClient = new WeakMap<SqlClient.SqlClient, Storage["Type"]>()

/**
 * The storage of a client, with the signals given: a second client on the same database (the test kit's
 * restartable runner) that must wake, and be woken by, the first.
 *
 * @internal
 */
export const makeWith = (client: SqlClient.SqlClient, signals: Signals): Storage["Type"] => {
  const runs = makeStore(client)
  return {
    sql: runs.sql,
    runs,
    approvals: makeApprovalStore(runs.sql),
    policies: makePolicyStore(runs.sql),
    signals
  }
}

/** @internal */
export const make: Effect.Effect<Storage["Type"], never, SqlClient.SqlClient> = Effect.map(
  SqlClient.SqlClient,
  (client) => {
    const existing = byClient.get(client)
    if (existing !== undefined) return existing
    const storage = makeWith(client, {
      work: Beacon.make(),
      changes: Beacon.make(),
      canceled: Effect.runSync(PubSub.unbounded<string>()),
      ended: makeRunEnds()
    })
    byClient.set(client, storage)
    return storage
  }
)

/** @internal */
export const layer: Layer.Layer<Storage, never, SqlClient.SqlClient> = Layer.effect(Storage, make)
