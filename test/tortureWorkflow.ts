/**
 * The workflow the crash-torture test runs in real worker processes: a `Step.run` that records its
 * idempotency key (unique) and each attempt (not unique), a `Step.transaction` ledger write, a durable
 * sleep, an approval decided from another process, a second ledger write and a second keyed call.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Approval, DurableClock, Step, Workflow } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"

export const Torture = Workflow.make({
  name: "torture",
  payload: Schema.Struct({ n: Schema.Number }),
  success: Schema.Struct({ n: Schema.Number, quote: Schema.Number, approved: Schema.Boolean }),
  idempotencyKey: (payload) => `torture-${payload.n}`
})

/** Tables the workflow writes, and a trigger that logs every time a journal node gets its outcome (completed, approved, denied). */
export const setup = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* sql`CREATE TABLE torture_ledger (run_id TEXT NOT NULL, entry TEXT NOT NULL, amount INTEGER NOT NULL)`
  yield* sql`CREATE TABLE torture_keys (key TEXT PRIMARY KEY, run_id TEXT NOT NULL, node TEXT NOT NULL)`
  yield* sql`CREATE TABLE torture_attempts (run_id TEXT NOT NULL, node TEXT NOT NULL, worker TEXT NOT NULL)`
  yield* sql`CREATE TABLE torture_checkpoints (run_id TEXT NOT NULL, node_id TEXT NOT NULL, status TEXT NOT NULL)`
  yield* sql.unsafe(`CREATE FUNCTION torture_log_checkpoint() RETURNS trigger AS $$
    BEGIN
      IF NEW.status IN ('completed', 'approved', 'denied') AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status
        OR OLD.exit IS DISTINCT FROM NEW.exit) THEN
        INSERT INTO torture_checkpoints (run_id, node_id, status) VALUES (NEW.run_id, NEW.node_id, NEW.status);
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql`)
  yield* sql.unsafe(`CREATE TRIGGER torture_log_checkpoint AFTER INSERT OR UPDATE ON gatehouse_nodes
    FOR EACH ROW EXECUTE FUNCTION torture_log_checkpoint()`)
})

/** A call to an outside system: at least once, deduplicated by its idempotency key. */
const keyedCall = (runId: string, node: string, worker: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const key = yield* Step.idempotencyKey
    yield* sql`INSERT INTO torture_attempts (run_id, node, worker) VALUES (${runId}, ${node}, ${worker})`
    // A little time between the call and its checkpoint, where a kill makes the call repeat.
    yield* Effect.sleep(`${yield* Random.nextIntBetween(20, 200)} millis`)
    yield* sql`INSERT INTO torture_keys (key, run_id, node) VALUES (${key}, ${runId}, ${node}) ON CONFLICT (key) DO NOTHING`
  })

/**
 * The steps' own statements fail while PostgreSQL restarts: like any call to an outside system, they are
 * retried (a step that still fails would fail the run, which is the engine's contract, not a fault).
 */
const retry = { retry: Schedule.spaced("250 millis").pipe(Schedule.upTo("60 seconds")) }

export const expected = (n: number) => ({ n, quote: n * 10, approved: n % 2 === 0 })

export const TortureLive = (worker: string) =>
  Torture.toLayer(({ n }, run) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const quote = yield* Step.run("quote", Effect.as(keyedCall(run.runId, "quote", worker), n * 10), {
        success: Schema.Number,
        ...retry
      }).pipe(Effect.orDie)
      yield* Step.transaction(
        "debit",
        Effect.gen(function*() {
          yield* sql`INSERT INTO torture_ledger (run_id, entry, amount) VALUES (${run.runId}, 'debit', ${quote})`
          // Held open a moment, so that kills land inside transactions too.
          yield* Effect.sleep(`${yield* Random.nextIntBetween(10, 120)} millis`)
        }),
        retry
      ).pipe(Effect.orDie)
      yield* DurableClock.sleep("cool-off", "200 millis")
      const decision = yield* Approval.request("approve", {
        title: `Approve torture run ${n}?`,
        metadata: { n },
        onDeny: "continue"
      })
      yield* Step.transaction(
        "credit",
        sql`INSERT INTO torture_ledger (run_id, entry, amount)
          VALUES (${run.runId}, 'credit', ${decision.approved ? quote : 0})`.pipe(Effect.asVoid),
        retry
      ).pipe(Effect.orDie)
      yield* Step.run("notify", keyedCall(run.runId, "notify", worker), retry).pipe(Effect.orDie)
      return { n, quote, approved: decision.approved }
    })
  )
