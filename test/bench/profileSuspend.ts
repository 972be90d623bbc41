import * as SqlClient from "@effect/sql/SqlClient"
import { Gatehouse, GatehouseTest } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { performance } from "node:perf_hooks"
import { databaseUrl } from "./shared.js"
import { Resume, ResumeLive } from "./worker.js"
const program = Effect.gen(function*() {
  const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_prof" })
  yield* Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const start = performance.now()
    for (let from = 0; from < 3000; from += 500) yield* Resume.startMany(Array.from({ length: 500 }, (_, n) => ({ n: from + n })))
    yield* sql<{ n: string }>`SELECT COUNT(*) AS n FROM gatehouse_runs WHERE status = 'waiting-approval'`.pipe(
      Effect.repeat({ until: (rows) => Number(rows[0].n) === 3000, schedule: Schedule.spaced("50 millis") }))
    console.error(`3000 suspended in ${(performance.now() - start).toFixed(0)} ms`)
  }).pipe(Effect.provide(Gatehouse.layerPg({ url, concurrency: 32, workflows: ResumeLive })))
})
Effect.runPromise(Effect.scoped(program)).then(() => process.exit(0), (e) => { console.error(e); process.exit(1) })
