/**
 * Crash torture: K real worker processes (`test/worker.ts`, `Gatehouse.layerPg`, 2-second leases) execute
 * M runs of the torture workflow on a private PostgreSQL cluster, while a decider process decides the
 * approvals concurrently (some twice at once). The test runs in two phases, the way fault-injection
 * suites do:
 *
 * - a fault phase with a bounded number of faults: SIGKILLs of random runners that are up (each replaced
 *   at once, as a process manager would) and one real PostgreSQL restart (`pg_ctl stop -m immediate`,
 *   then start) among them;
 * - a healing phase with no faults, whose deadline is derived from the work left when it begins.
 *
 * A run still unfinished at the deadline fails the test with, per stuck run, its status, claims,
 * takeovers, journal and the last warning the workers logged about it. At the end every invariant is
 * checked on the database and the figures are printed as one JSON line.
 *
 * The cluster is private (`test/pgCluster.ts`): restarting it disturbs no other test. CI size by default
 * (K=3, M=30, 6 kills); `GATEHOUSE_TORTURE=long` runs K=4, M=200 with 30 kills.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Gatehouse, Step, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import * as PgCluster from "./pgCluster.js"
import { expected, setup, Torture } from "./tortureWorkflow.js"
import { tsxArgs } from "./tsx.js"

const pgAvailable = process.env.GATEHOUSE_PG !== "skip"
const cluster = PgCluster.clusterAvailable()
const long = process.env.GATEHOUSE_TORTURE === "long"
const K = long ? 4 : 3
const M = long ? 200 : 30
const KILLS = long ? 30 : 6
/** The PostgreSQL restart comes after this many kills: early, while the runs are in full swing. */
const RESTART_AFTER = long ? 10 : 1
/** Healing deadline: time for replacements to boot and leases to expire, plus a share per unfinished run. */
const healingDeadline = (unfinished: number) => 90_000 + 3_000 * unfinished
/** The fault phase stops early past this (on a busy machine each kill waits for a replacement to boot). */
const faultBudgetMillis = long ? 600_000 : 120_000
const workerPath = path.join(__dirname, "worker.ts")

describe.skipIf(!pgAvailable)("crash torture (real processes, private PostgreSQL)", () => {
  it.scopedLive(`K=${K} workers, M=${M} runs, ${KILLS} SIGKILLs and a PostgreSQL restart: every invariant holds`, () =>
    Effect.gen(function*() {
      if (cluster !== true) return yield* Effect.fail(new Error(`cannot start a private PostgreSQL: ${cluster}`))
      const started = Date.now()
      const pg = yield* PgCluster.make
      const url = pg.url
      const client = yield* Layer.build(
        Gatehouse.layerClient.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })))
      )
      yield* setup.pipe(Effect.provide(client))
      const sql = (yield* SqlClient.SqlClient.pipe(Effect.provide(client))).withoutTransforms()
      // The driver's own statements ride out the restart.
      const retrying = <A, E>(effect: Effect.Effect<A, E>) =>
        effect.pipe(Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("60 seconds"))))

      // Children: a runner or the decider that exits (killed, or failed to boot while PostgreSQL was down)
      // is replaced at once, until the test stops them; all are SIGKILLed when the test ends.
      let stopping = false
      const children = new Set<ChildProcess>()
      const ready = new Set<ChildProcess>()
      const log: Array<string> = []
      const remember = (id: string, chunk: unknown) => {
        for (const line of String(chunk).split("\n")) {
          if (line.trim() === "") continue
          log.push(`[${id}] ${line}`)
          if (log.length > 5000) log.splice(0, log.length - 4000)
        }
      }
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          stopping = true
          children.forEach((child) => child.kill("SIGKILL"))
        })
      )
      let spawned = 0
      const runners: Array<ChildProcess> = []
      let decider: ChildProcess
      const spawnWorker = (role: "runner" | "decider", slot: number): ChildProcess => {
        const id = `${role}-${++spawned}`
        const child = spawn(process.execPath, [...tsxArgs, workerPath], {
          env: { ...process.env, GATEHOUSE_URL: url, GATEHOUSE_WORKER_ROLE: role, GATEHOUSE_WORKER_ID: id },
          stdio: ["ignore", "pipe", "pipe"]
        })
        child.stderr!.on("data", (chunk) => remember(id, chunk))
        child.stdout!.on("data", (chunk) => {
          if (String(chunk).includes("ready")) ready.add(child)
          remember(id, chunk)
        })
        children.add(child)
        child.on("exit", () => {
          children.delete(child)
          ready.delete(child)
          if (stopping) return
          if (role === "runner") runners[slot] = spawnWorker("runner", slot)
          else if (child === decider) decider = spawnWorker("decider", 0)
        })
        return child
      }
      for (let i = 0; i < K; i++) runners.push(spawnWorker("runner", i))
      decider = spawnWorker("decider", 0)

      const runIds = yield* Effect.forEach(
        Array.from({ length: M }, (_, n) => n),
        (n) => Torture.start({ n }),
        { concurrency: 8 }
      ).pipe(Effect.provide(client))

      const unfinished = retrying(sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_runs
        WHERE status NOT IN ('completed', 'failed', 'canceled')`.pipe(Effect.map((rows) => Number(rows[0].n))))

      // Fault phase: a bounded number of kills, each of a runner that is up (one still booting holds
      // nothing), and one PostgreSQL restart among them. It ends early if the work is done.
      let kills = 0
      let restarts = 0
      for (let i = 0; i < KILLS; i++) {
        yield* Effect.sleep(`${yield* Random.nextIntBetween(300, long ? 1500 : 1000)} millis`)
        if (restarts > 0 && ((yield* unfinished) === 0 || Date.now() - started > faultBudgetMillis)) break
        if (i === RESTART_AFTER) {
          yield* pg.restart
          restarts++
        }
        const up = yield* Effect.sync(() => runners.filter((child) => ready.has(child))).pipe(
          Effect.repeat({ until: (up) => up.length > 0, schedule: Schedule.spaced("100 millis") }),
          Effect.zipRight(Effect.sync(() => runners.filter((child) => ready.has(child)))),
          Effect.timeout("60 seconds"),
          Effect.orElseSucceed(() => [] as Array<ChildProcess>)
        )
        if (up.length === 0) continue
        up[yield* Random.nextIntBetween(0, up.length)].kill("SIGKILL")
        kills++
      }
      const faultMillis = Date.now() - started

      // Healing phase: no faults; the deadline follows from the work left.
      const left = yield* unfinished
      const deadline = healingDeadline(left)
      const healed = yield* unfinished.pipe(
        Effect.repeat({ until: (n) => n === 0, schedule: Schedule.spaced("200 millis") }),
        Effect.timeout(deadline),
        Effect.option
      )
      if (healed._tag === "None") {
        const stuck = yield* retrying(sql<{
          id: string
          status: string
          claims: string
          lease_owner: string | null
          error: string | null
          takeovers: string
          nodes: string | null
        }>`SELECT r.id, r.status, r.claims, r.lease_owner, r.error,
            (SELECT COUNT(*) FROM gatehouse_events e WHERE e.run_id = r.id AND e.type = 'run.taken-over') AS takeovers,
            (SELECT string_agg(n.node_id || ':' || n.status, ', ' ORDER BY n.seq) FROM gatehouse_nodes n
              WHERE n.run_id = r.id) AS nodes
          FROM gatehouse_runs r WHERE r.status NOT IN ('completed', 'failed', 'canceled') ORDER BY r.id`)
        const report = stuck.map((run) => {
          const lastError = [...log].reverse().find((line) =>
            line.includes(run.id) && /level=(WARN|ERROR|FATAL)/.test(line)
          )
          return [
            `${run.id}: status=${run.status} claims=${run.claims} takeovers=${run.takeovers}`,
            `lease=${run.lease_owner ?? "-"} error=${run.error ?? "-"}`,
            `nodes=[${run.nodes ?? ""}]`,
            `last error: ${lastError ?? "none logged"}`
          ].join(" ")
        })
        return yield* Effect.fail(
          new Error(
            `${stuck.length} of ${M} runs still unfinished ${deadline}ms into the healing phase ` +
              `(${left} were unfinished when it began; ${kills} kills, ${restarts} restarts)\n` +
              `${report.join("\n")}\nlast worker output:\n${log.slice(-30).join("\n")}`
          )
        )
      }
      const wallMillis = Date.now() - started
      stopping = true

      // The decider reports its counts on SIGTERM.
      type Counts = { decided: number; alreadyDecided: number; conflicts: number; errors: number }
      const deciderCounts = yield* Effect.async<Counts>((resume) => {
        let out = ""
        decider.stdout!.on("data", (chunk) => out += chunk)
        decider.on("exit", () => {
          const line = out.trim().split("\n").reverse().find((line) => line.startsWith("{\"decided\""))
          resume(Effect.succeed(JSON.parse(line ?? "{}")))
        })
        decider.kill("SIGTERM")
      }).pipe(Effect.timeout("10 seconds"), Effect.orElseSucceed(() => undefined))

      yield* Effect.gen(function*() {
        // Every run completed with the expected result.
        const workflows = yield* Workflows.Workflows
        for (let n = 0; n < M; n++) {
          const run = yield* workflows.poll(runIds[n])
          assert.strictEqual(run.status, "completed", `run ${n}: ${run.error}`)
          assert.deepStrictEqual(run.result, { _tag: "Success", value: expected(n) })
        }

        // Each transactional side effect exactly once, with the amounts the journal decided.
        const ledger = yield* sql<{ run_id: string; entry: string; amount: number }>`SELECT run_id, entry, amount
          FROM torture_ledger ORDER BY run_id, entry`
        assert.strictEqual(ledger.length, M * 2, "one debit and one credit per run")
        for (let n = 0; n < M; n++) {
          const rows = ledger.filter((row) => row.run_id === runIds[n])
          const e = expected(n)
          assert.deepStrictEqual(rows.map((row) => [row.entry, Number(row.amount)]), [
            ["credit", e.approved ? e.quote : 0],
            ["debit", e.quote]
          ])
        }

        // Each idempotency key once in the ledger, and it is the step's stable key.
        const keys = yield* sql<{ key: string; run_id: string; node: string }>`SELECT key, run_id, node FROM torture_keys`
        assert.strictEqual(keys.length, M * 2)
        for (const key of keys) assert.strictEqual(key.key, Step.makeIdempotencyKey(key.run_id, key.node))
        const attempts = Number((yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM torture_attempts`)[0].n)

        // No checkpoint written twice: every node became completed exactly once.
        const rewritten = yield* sql<{ run_id: string; node_id: string; n: string }>`SELECT run_id, node_id,
          COUNT(*) AS n FROM torture_checkpoints GROUP BY run_id, node_id HAVING COUNT(*) > 1`
        assert.deepStrictEqual(rewritten, [])
        const checkpoints = Number((yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM torture_checkpoints`)[0].n)
        // quote, debit, cool-off, approve, credit, notify
        assert.strictEqual(checkpoints, M * 6)

        // Every decision recorded once: one decided approval, one audit entry and one event per run.
        const approvals = yield* sql<{ status: string; n: string }>`SELECT status, COUNT(*) AS n FROM gatehouse_approvals
          GROUP BY status ORDER BY status`
        assert.deepStrictEqual(
          approvals.map((row) => [row.status, Number(row.n)]),
          [["approved", Math.ceil(M / 2)], ["denied", Math.floor(M / 2)]]
        )
        const audited = yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_audit WHERE action = 'approval.decided'
          GROUP BY run_id, node_id HAVING COUNT(*) <> 1`
        assert.deepStrictEqual(audited, [])
        const decidedEvents = Number((yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_events
          WHERE type = 'approval.decided'`)[0].n)
        assert.strictEqual(decidedEvents, M)

        const takeovers = Number((yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_events
          WHERE type = 'run.taken-over'`)[0].n)
        const claims = Number((yield* sql<{ n: string }>`SELECT SUM(claims) AS n FROM gatehouse_runs`)[0].n)
        const figures = {
          test: "crash-torture",
          workers: K,
          runs: M,
          kills,
          restarts,
          takeovers,
          claims,
          keyedCallAttempts: attempts,
          keyedCallsRepeated: attempts - M * 2,
          decider: deciderCounts,
          faultMillis,
          healing: { unfinishedAtStart: left, deadlineMillis: deadline },
          wallMillis
        }
        process.stdout.write(JSON.stringify(figures) + "\n")
        assert.isAbove(kills, 0)
        assert.strictEqual(restarts, 1)
      }).pipe(Effect.provide(client))
    }), { timeout: long ? 1_800_000 : 480_000 })
})
