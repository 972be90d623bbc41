/**
 * `gatehouse webhooks` as a child process: on a SQLite file (a dispatcher in this process delivers what the
 * commands queue to a real receiver on 127.0.0.1) and against a real `gatehouse serve`.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Gatehouse, WebhookDispatcher, Webhooks } from "@gatehouse/engine"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type Receiver, startReceiver, verifySignature } from "@gatehouse/test-utils/Receiver"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { background, fixtures, ok, okJson, run } from "./utils/cli.js"
import { serverTarget, tempDir } from "./utils/targets.js"
import type { Target } from "./scenario.js"

describe("gatehouse webhooks on a SQLite file", () => {
  const temp = tempDir()
  const database = path.join(temp.dir, "gh.db")
  const env = { GATEHOUSE_WEBHOOK_ALLOWED_HOSTS: "127.0.0.1" }
  let receiver: Receiver & { readonly close: () => Promise<void> }
  let url: string

  beforeAll(async () => {
    receiver = await startReceiver()
    url = receiver.url
  })
  afterAll(async () => {
    await receiver?.close()
    temp.remove()
  })

  // What a runner or server process with the dispatcher does, here on demand.
  const deliver = () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(
        WebhookDispatcher.layerManualFetch().pipe(
          Layer.provideMerge(Gatehouse.layerClientSqlite({ filename: database })),
          Layer.provideMerge(Webhooks.layerAllowedHosts(["127.0.0.1"]))
        )
      )
      return yield* Context.get(context, WebhookDispatcher.WebhookDispatcher).drain
    }).pipe(Effect.scoped, Effect.runPromise)

  it("add writes the secret to a private file; list, test, deliveries, redeliver, remove; errors exit with their codes", async () => {
    const secretFile = path.join(temp.dir, "hook.secret")
    const added = await okJson(["webhooks", "add", url, "--event", "webhook.test", "--event", "approval.*",
      "--secret-file", secretFile, "--database", database], env)
    const id: string = added.subscription.id
    assert.match(id, /^wh_/)
    assert.deepStrictEqual(added.subscription.eventTypes, ["webhook.test", "approval.*"])
    assert.strictEqual(added.secretFile, secretFile)
    const secret = fs.readFileSync(secretFile, "utf8").trim()
    assert.match(secret, /^whsec_/)
    assert.strictEqual(fs.statSync(secretFile).mode & 0o777, 0o600)
    assert.notInclude(JSON.stringify(added), secret)

    const table = await ok(["webhooks", "list", "--database", database], env)
    assert.match(table, /^WEBHOOK\s+URL\s+EVENTS\s+WORKFLOWS\s+FORMAT\s+STATE$/m)
    assert.include(table, id)
    assert.notInclude(table, secret.slice(6))
    const listed = await okJson(["webhooks", "list", "--database", database], env)
    assert.deepStrictEqual(listed.map((s: any) => s.id), [id])

    const queued = await okJson(["webhooks", "test", id, "--database", database], env)
    assert.strictEqual(queued.type, "webhook.test")
    assert.strictEqual(queued.status, "pending")
    await deliver()
    assert.deepStrictEqual(receiver.received.map((r) => r.id), [queued.id])
    assert.isTrue(verifySignature(secret, receiver.received[0]), "signed with the secret in the file")

    const delivered = await okJson(["webhooks", "deliveries", "--status", "delivered", "--database", database], env)
    assert.deepStrictEqual(delivered.map((d: any) => d.id), [queued.id])
    const again = await okJson(["webhooks", "redeliver", queued.id, "--database", database], env)
    assert.strictEqual(again.status, "pending")
    await deliver()
    assert.deepStrictEqual(receiver.received.map((r) => r.id), [queued.id, queued.id])

    // Refused: a destination outside the allow-list, a secret file that exists, unknown ids.
    const outside = await run(["webhooks", "add", "http://10.1.2.3/hook", "--secret-file", path.join(temp.dir, "x"),
      "--database", database], { env })
    assert.strictEqual(outside.code, 2, outside.stderr)
    assert.include(outside.stderr, "allow-list")
    assert.isFalse(fs.existsSync(path.join(temp.dir, "x")))
    const existing = await run(["webhooks", "add", url, "--secret-file", secretFile, "--database", database], { env })
    assert.strictEqual(existing.code, 2, existing.stderr)
    assert.strictEqual((await okJson(["webhooks", "list", "--database", database], env)).length, 1, "nothing stored")
    const unknown = await run(["webhooks", "redeliver", "msg_unknown", "--database", database], { env })
    assert.strictEqual(unknown.code, 3, unknown.stderr)

    assert.include(await ok(["webhooks", "remove", id, "--database", database], env), `removed ${id}`)
    const twice = await run(["webhooks", "remove", id, "--database", database], { env })
    assert.strictEqual(twice.code, 3, twice.stderr)
    assert.include(twice.stderr, "gatehouse webhooks list")
  }, 240_000)

  it("issue 19: `webhooks add --reviewer ghost --role finance` is refused; only a person of the directory is accepted", async () => {
    const own = path.join(temp.dir, "authority.db")
    const people = { ...env, GATEHOUSE_DIRECTORY: JSON.stringify([{ id: "grace", roles: ["finance"] }]) }
    const add = (reviewer: ReadonlyArray<string>, file: string) =>
      run(["webhooks", "add", url, "--format", "slack", ...reviewer, "--secret-file", path.join(temp.dir, file),
        "--database", own, "--json"], { env: people })
    const ghost = await add(["--reviewer", "ghost", "--role", "finance"], "ghost.secret")
    assert.strictEqual(ghost.code, 2, ghost.stderr)
    assert.include(ghost.stderr, "reviewer.roles")
    const borrowed = await add(["--reviewer", "grace", "--role", "finance"], "borrowed.secret")
    assert.strictEqual(borrowed.code, 2, borrowed.stderr)
    const unknown = await add(["--reviewer", "ghost"], "unknown.secret")
    assert.strictEqual(unknown.code, 2, unknown.stderr)
    assert.include(unknown.stderr, "reviewer.id")
    for (const file of ["ghost.secret", "borrowed.secret", "unknown.secret"]) {
      assert.isFalse(fs.existsSync(path.join(temp.dir, file)), "no secret written")
    }
    assert.deepStrictEqual(await okJson(["webhooks", "list", "--database", own], people), [], "nothing stored")
    // Without the directory even grace is nobody here.
    const withoutDirectory = await run(["webhooks", "add", url, "--format", "slack", "--reviewer", "grace",
      "--secret-file", path.join(temp.dir, "nodir.secret"), "--database", own], { env })
    assert.strictEqual(withoutDirectory.code, 2, withoutDirectory.stderr)
    const added = await add(["--reviewer", "grace"], "grace.secret")
    assert.strictEqual(added.code, 0, added.stderr)
    assert.deepStrictEqual(JSON.parse(added.stdout).subscription.reviewer, { id: "grace" })
    // Who created it is in the audit chain: the local user.
    const audit = await Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      return yield* sql<{ actor: string; data: string }>`SELECT actor, data FROM gatehouse_audit
        WHERE action = 'webhook.created'`
    }).pipe(Effect.provide(Gatehouse.layerClientSqlite({ filename: own })), Effect.scoped, Effect.runPromise)
    assert.deepStrictEqual(audit.map((row) => [row.actor, JSON.parse(row.data).reviewer]), [
      [`cli:${os.userInfo().username}`, "grace"]
    ])
  }, 240_000)
})

describe("gatehouse worker delivers webhooks", () => {
  it("a worker process delivers a queued message by itself; --no-webhooks leaves it queued", async () => {
    const temp = tempDir()
    const database = path.join(temp.dir, "gh.db")
    const env = { GATEHOUSE_WEBHOOK_ALLOWED_HOSTS: "127.0.0.1" }
    const receiver = await startReceiver()
    const received = () => receiver.received.map((r) => r.id)
    const url = receiver.url
    const workflows = path.join(fixtures, "payout.mjs")
    const start = async (extra: ReadonlyArray<string>) => {
      const worker = background(["worker", "--database", database, "--workflows", workflows, "--poll-interval", "100", ...extra], env)
      await worker.waitFor(/gatehouse: worker \S+ running on/, "the worker's start line")
      return worker
    }
    try {
      const added = await okJson(["webhooks", "add", url, "--event", "webhook.test", "--secret-file",
        path.join(temp.dir, "hook.secret"), "--database", database], env)
      const quiet = await start(["--no-webhooks"])
      const first = await okJson(["webhooks", "test", added.subscription.id, "--database", database], env)
      // The quiet worker runs a whole payout after the message was queued, and still delivers nothing.
      const started = await run([database, "payout", "payout-quiet", JSON.stringify({ amount: 1 }), "ci"], {
        script: path.join(fixtures, "start-run.mjs")
      })
      assert.strictEqual(started.code, 0, started.stderr)
      const runDeadline = Date.now() + 120_000
      while ((await okJson(["runs", "inspect", "payout-quiet", "--database", database], env)).run.status !== "completed") {
        if (Date.now() > runDeadline) throw new Error(`the run did not complete: ${quiet.output()}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      const pending = await okJson(["webhooks", "deliveries", "--status", "pending", "--database", database], env)
      assert.deepStrictEqual(pending.map((d: any) => d.id), [first.id])
      assert.strictEqual(await quiet.stop("SIGTERM"), 0)
      assert.deepStrictEqual(received(), [])

      const worker = await start([])
      const deadline = Date.now() + 120_000
      while (!received().includes(first.id)) {
        if (Date.now() > deadline) throw new Error(`not delivered: ${worker.output()}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      assert.strictEqual(await worker.stop("SIGTERM"), 0)
    } finally {
      await receiver.close()
      temp.remove()
    }
  }, 300_000)
})

describe("gatehouse webhooks against a real gatehouse serve", () => {
  let target: Target
  const temp = tempDir()
  beforeAll(async () => {
    target = await serverTarget()
  }, 300_000)
  afterAll(async () => {
    await target?.stop()
    temp.remove()
  }, 120_000)

  it("operators manage subscriptions through the API; a reviewer's token is refused", async () => {
    const read = () => [...target.connection, ...target.reader]
    const secretFile = path.join(temp.dir, "server.secret")
    const added = await okJson(["webhooks", "add", "https://hooks.example.com/gatehouse", "--workflow",
      "release-pipeline", "--secret-file", secretFile, ...read()])
    assert.match(fs.readFileSync(secretFile, "utf8"), /^whsec_/)
    const listed = await okJson(["webhooks", "list", ...read()])
    assert.deepStrictEqual(listed.map((s: any) => [s.id, s.workflows]), [[added.subscription.id, ["release-pipeline"]]])
    const queued = await okJson(["webhooks", "test", added.subscription.id, ...read()])
    assert.strictEqual(queued.type, "webhook.test")
    const internal = await run(["webhooks", "add", "http://192.168.1.1/x", "--secret-file", path.join(temp.dir, "y"),
      ...read()])
    assert.strictEqual(internal.code, 2, internal.stderr)
    // Issue 19: an operator cannot give an invented reviewer a role through the server either.
    const ghost = await run(["webhooks", "add", "https://hooks.example.com/ghost", "--format", "slack", "--reviewer",
      "ghost", "--role", "finance", "--secret-file", path.join(temp.dir, "ghost"), ...read()])
    assert.strictEqual(ghost.code, 2, ghost.stderr)
    assert.include(ghost.stderr, "reviewer.roles")
    assert.isFalse(fs.existsSync(path.join(temp.dir, "ghost")))
    const reviewer = await run(["webhooks", "list", ...target.connection, ...target.reviewer("quinn")])
    assert.strictEqual(reviewer.code, 6, reviewer.stderr)
    await ok(["webhooks", "remove", added.subscription.id, ...read()])
    assert.deepStrictEqual(await okJson(["webhooks", "list", ...read()]), [])
  }, 240_000)
})
