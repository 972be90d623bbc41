/**
 * Crash torture: K real worker processes (`test/worker.ts`, `Gatehouse.layerPg`, 2-second leases) execute
 * M runs of the torture workflow while the driver SIGKILLs workers at random moments and starts
 * replacements, and a decider process decides the approvals concurrently (some twice at once). At the end
 * every invariant is checked on the database and the figures are printed as one JSON line.
 *
 * CI size by default (K=3, M=30); `GATEHOUSE_TORTURE=long` runs K=4, M=200 with more kills.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Gatehouse, GatehouseTest, Step, Workflows } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"
import { expected, setup, Torture } from "./tortureWorkflow.js"
import { tsxArgs } from "./tsx.js"

const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const pgAvailable = process.env.GATEHOUSE_PG !== "skip"
const long = process.env.GATEHOUSE_TORTURE === "long"
const K = long ? 4 : 3
const M = long ? 200 : 30
const deadlineMillis = long ? 600_000 : 120_000
const workerPath = path.join(__dirname, "worker.ts")

describe.skipIf(!pgAvailable)("crash torture (real processes, PostgreSQL)", () => {
  it.scopedLive(`K=${K} workers, M=${M} runs, random SIGKILLs: every invariant holds`, () =>
    Effect.gen(function*() {
      const started = Date.now()
      const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_torture" })
      const client = yield* Layer.build(
        Gatehouse.layerClient.pipe(Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })))
      )
      yield* setup.pipe(Effect.provide(client))

      // Children: killed (SIGKILL) when the test ends, whatever happens.
      const children = new Set<ChildProcess>()
      const ready = new Set<ChildProcess>()
      const stderr: Array<string> = []
      yield* Effect.addFinalizer(() => Effect.sync(() => children.forEach((child) => child.kill("SIGKILL"))))
      let spawned = 0
      const spawnWorker = (role: "runner" | "decider") =>
        Effect.sync(() => {
          const id = `${role}-${++spawned}`
          const child = spawn(process.execPath, [...tsxArgs, workerPath], {
            env: { ...process.env, GATEHOUSE_URL: url, GATEHOUSE_WORKER_ROLE: role, GATEHOUSE_WORKER_ID: id },
            stdio: ["ignore", "pipe", "pipe"]
          })
          child.stderr!.on("data", (chunk) => stderr.push(`[${id}] ${chunk}`))
          child.stdout!.on("data", (chunk) => {
            if (String(chunk).includes("ready")) ready.add(child)
          })
          children.add(child)
          child.on("exit", () => {
            children.delete(child)
            ready.delete(child)
          })
          return child
        })

      const runners: Array<ChildProcess> = []
      for (let i = 0; i < K; i++) runners.push(yield* spawnWorker("runner"))
      const decider = yield* spawnWorker("decider")

      const runIds = yield* Effect.forEach(
        Array.from({ length: M }, (_, n) => n),
        (n) => Torture.start({ n }),
        { concurrency: 8 }
      ).pipe(Effect.provide(client))

      // Fault injection: at random moments, SIGKILL a random runner that is up (one still booting holds
      // nothing) and start a replacement.
      let kills = 0
      const chaos = Effect.gen(function*() {
        while (true) {
          yield* Effect.sleep(`${yield* Random.nextIntBetween(200, long ? 1500 : 800)} millis`)
          const up = runners.map((child, index) => [child, index] as const).filter(([child]) => ready.has(child))
          if (up.length === 0) continue
          const index = up[yield* Random.nextIntBetween(0, up.length)][1]
          runners[index].kill("SIGKILL")
          kills++
          runners[index] = yield* spawnWorker("runner")
        }
      })
      const chaosFiber = yield* Effect.forkScoped(chaos)

      // Wait, within a deadline, until every run is terminal.
      const sql = (yield* SqlClient.SqlClient.pipe(Effect.provide(client))).withoutTransforms()
      const unfinished = sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_runs
        WHERE status NOT IN ('completed', 'failed', 'canceled')`.pipe(Effect.map((rows) => Number(rows[0].n)))
      yield* unfinished.pipe(
        Effect.repeat({ until: (n) => n === 0, schedule: Schedule.spaced("200 millis") }),
        Effect.timeoutFail({
          duration: deadlineMillis,
          onTimeout: () => new Error(`runs still unfinished after ${deadlineMillis}ms\n${stderr.slice(-20).join("")}`)
        })
      )
      const wallMillis = Date.now() - started
      yield* chaosFiber.interruptAsFork(chaosFiber.id())

      // The decider reports its counts on SIGTERM.
      const deciderCounts = yield* Effect.async<{ decided: number; alreadyDecided: number; conflicts: number; errors: number }>((resume) => {
        let out = ""
        decider.stdout!.on("data", (chunk) => out += chunk)
        decider.on("exit", () => resume(Effect.succeed(JSON.parse(out.trim().split("\n").pop() || "{}"))))
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
          takeovers,
          claims,
          keyedCallAttempts: attempts,
          keyedCallsRepeated: attempts - M * 2,
          decider: deciderCounts,
          wallMillis
        }
        process.stdout.write(JSON.stringify(figures) + "\n")
        assert.isAbove(kills, 0)
      }).pipe(Effect.provide(client))
    }), { timeout: long ? 900_000 : 170_000 })
})
