/**
 * A dispatcher process SIGKILLed mid-delivery: its claim expires and another process delivers, nothing is
 * lost. Real child process, real PostgreSQL, real HTTP receiver.
 */
import { assert, describe, it } from "@effect/vitest"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Gatehouse, Migrations, WebhookDispatcher, Webhooks, Workflow } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { databaseUrl, pgAvailable } from "@gatehouse/test-utils/Database"
import { makeReceiver, verifySignature } from "@gatehouse/test-utils/Receiver"
import { GatehouseTest } from "@gatehouse/engine"

const Job = Workflow.make({
  name: "wh-kill",
  payload: Schema.Struct({ n: Schema.Number }),
  idempotencyKey: (payload) => String(payload.n)
})

const repoRoot = path.resolve(__dirname, "../../..")
const workerPath = path.join(__dirname, "utils", "webhookWorker.ts")

describe.skipIf(!pgAvailable)("webhook dispatcher killed mid-delivery (PostgreSQL, real processes)", () => {
  it.live("another process delivers the claimed message once the claim expires; nothing is lost", () =>
    Effect.gen(function*() {
      const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_wh_kill" })
      const client = yield* Layer.build(
        Layer.mergeAll(Gatehouse.layerClient, Webhooks.layer, Migrations.layer).pipe(
          Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: 4 }))
        )
      )
      const receiver = yield* makeReceiver
      yield* Effect.gen(function*() {
        const { secret } = yield* (yield* Webhooks.Webhooks).create({ url: receiver.url, eventTypes: ["run.started"] })
        for (let n = 0; n < 5; n++) yield* Job.start({ n })
        // The first message reaching the receiver is held without an answer: the process is mid-delivery.
        let held: string | undefined
        receiver.respond = ({ id }) => {
          if (held === undefined) {
            held = id
            return { status: 0, hold: true }
          }
          return { status: 200 }
        }
        const child = spawn(process.execPath, ["--conditions=@gatehouse/source", "--import", "tsx", workerPath], {
          cwd: repoRoot,
          env: { ...process.env, GATEHOUSE_URL: url },
          stdio: ["ignore", "pipe", "pipe"]
        })
        const output: Array<string> = []
        child.stdout!.on("data", (chunk) => output.push(String(chunk)))
        child.stderr!.on("data", (chunk) => output.push(String(chunk)))
        yield* Effect.addFinalizer(() => Effect.sync(() => child.kill("SIGKILL")))
        yield* receiver.until((received) => received.some((r) => r.status === 0)).pipe(
          Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new Error(`no delivery: ${output.join("")}`) })
        )
        const exited = Effect.async<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
        })
        child.kill("SIGKILL")
        yield* exited
        const webhooks = yield* Webhooks.Webhooks
        const inFlight = yield* webhooks.getDelivery(held!)
        assert.strictEqual(inFlight.status, "delivering", "the killed process held the claim")

        // Another process takes over; its claims expire like any other.
        const allDelivered = webhooks.deliveries().pipe(
          Effect.map((page) => page.deliveries.length === 5 && page.deliveries.every((d) => d.status === "delivered")),
          Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("100 millis") }),
          Effect.timeoutFail({ duration: "90 seconds", onTimeout: () => new Error("not every message delivered") })
        )
        yield* allDelivered.pipe(
          Effect.provide(
            WebhookDispatcher.layerFetch({ owner: "survivor", pollInterval: "200 millis", timeout: "5 seconds" }).pipe(
              Layer.provide(Layer.succeedContext(client))
            )
          )
        )
        const deliveries = (yield* webhooks.deliveries()).deliveries
        assert.strictEqual(deliveries.length, 5)
        assert.isTrue(deliveries.every((d) => d.status === "delivered"))
        const taken = yield* webhooks.getDelivery(held!)
        assert.strictEqual(taken.attempts, 2, "the killed attempt counts, the survivor's is the second")
        assert.deepStrictEqual(taken.history!.map((a) => a.statusCode), [200])
        const runs = new Set(receiver.received.filter((r) => r.status === 200).map((r) => JSON.parse(r.body).data.runId))
        assert.strictEqual(runs.size, 5)
        assert.isTrue(receiver.received.every((r) => verifySignature(secret, r)))
      }).pipe(
        Effect.provide(client),
        Effect.provide(Webhooks.layerAllowedHosts(["127.0.0.1"]))
      )
    }).pipe(Effect.scoped), { timeout: 180_000 })

  it.live("two dispatchers on one database: every message delivered exactly once", () =>
    Effect.gen(function*() {
      const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_wh_two" })
      const pgClient = () => PgClient.layer({ url: Redacted.make(url), maxConnections: 4 })
      const client = yield* Layer.build(
        Layer.mergeAll(Gatehouse.layerClient, Webhooks.layer, Migrations.layer).pipe(Layer.provideMerge(pgClient()))
      )
      const receiver = yield* makeReceiver
      yield* Effect.gen(function*() {
        const webhooks = yield* Webhooks.Webhooks
        yield* webhooks.create({ url: receiver.url, maxConcurrency: 8 })
        yield* webhooks.create({ url: receiver.url.replace("/hook", "/second"), maxConcurrency: 2 })
        const dispatcher = (owner: string) =>
          WebhookDispatcher.layerFetch({ owner, pollInterval: "100 millis", batchSize: 5 }).pipe(
            Layer.provide(pgClient()),
            Layer.provide(Webhooks.layerAllowedHosts(["127.0.0.1"]))
          )
        yield* Layer.build(Layer.merge(dispatcher("one"), dispatcher("two")))
        yield* Effect.forEach(Array.from({ length: 30 }, (_, n) => n), (n) => Job.start({ n }), { concurrency: 6 })
        const allDelivered = webhooks.deliveries({ limit: 1000 }).pipe(
          Effect.map((page) => page.deliveries.length === 60 && page.deliveries.every((d) => d.status === "delivered")),
          Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("100 millis") }),
          Effect.timeoutFail({ duration: "90 seconds", onTimeout: () => new Error("not every message delivered") })
        )
        yield* allDelivered
        const ids = receiver.received.map((r) => r.id)
        assert.strictEqual(ids.length, 60)
        assert.strictEqual(new Set(ids).size, 60, "no message delivered twice")
      }).pipe(Effect.provide(client), Effect.provide(Webhooks.layerAllowedHosts(["127.0.0.1"])))
    }).pipe(Effect.scoped), { timeout: 180_000 })
})
