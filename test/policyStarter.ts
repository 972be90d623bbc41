/**
 * A process of the policy throttle test: `node --import tsx test/policyStarter.ts` starts
 * `GATEHOUSE_STARTS` runs of `report` at once for the tenant "acme" on `GATEHOUSE_URL` (only a client: no
 * runner), and prints one JSON line: how many starts were admitted and how many throttled.
 */
import { Gatehouse, Workflow } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

const url = process.env.GATEHOUSE_URL!
const starts = Number(process.env.GATEHOUSE_STARTS ?? "34")
const prefix = process.env.GATEHOUSE_PREFIX ?? String(process.pid)

const Report = Workflow.make({
  name: "report",
  payload: Schema.Struct({ id: Schema.String, tenant: Schema.String }),
  idempotencyKey: (payload) => payload.id
})

const program = Effect.gen(function*() {
  const outcomes = yield* Effect.forEach(
    Array.from({ length: starts }, (_, i) => i),
    (i) =>
      Report.start({ id: `${prefix}-${i}`, tenant: "acme" }, { labels: { tenant: "acme" } }).pipe(
        Effect.as("admitted" as const),
        Effect.catchTag("Throttled", () => Effect.succeed("throttled" as const))
      ),
    { concurrency: "unbounded" }
  )
  process.stdout.write(
    JSON.stringify({
      admitted: outcomes.filter((outcome) => outcome === "admitted").length,
      throttled: outcomes.filter((outcome) => outcome === "throttled").length
    }) + "\n"
  )
})

Effect.runPromise(program.pipe(Effect.provide(Gatehouse.layerClientPg({ url, maxConnections: 10 })))).catch((error) => {
  console.error(error)
  process.exit(1)
})
