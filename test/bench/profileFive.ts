import * as SqlClient from "@effect/sql/SqlClient"
import { Gatehouse, GatehouseTest } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { performance } from "node:perf_hooks"
import { databaseUrl } from "./shared.js"
import { Five, FiveLive } from "./worker.js"
const program = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_prof" })
  yield* Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (let round = 0; round < 3; round++) {
      const start = performance.now()
      yield* Five.startMany(Array.from({ length: 500 }, (_, n) => ({ n: n + round * 1000 })))
      yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_runs WHERE status = 'completed'`.pipe(
        Effect.repeat({ until: (rows) => Number(rows[0].n) === 500 * (round + 1), schedule: Schedule.spaced("20 millis") })
      )
      console.error(`round ${round}: ${(performance.now() - start).toFixed(0)} ms`)
    }
  }).pipe(Effect.provide(Gatehouse.layerPg({ url, concurrency: 32, workflows: FiveLive })))
})
Effect.runPromise(Effect.scoped(program)).then(() => process.exit(0), (e) => { console.error(e); process.exit(1) })
