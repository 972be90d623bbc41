/**
 * `gatehouse runs start`: a start by name gives the same run id and the same typed errors by code
 * (`MyWorkflow.runIdFor`, `Workflows.startByName`), over HTTP (`POST /v1/workflows/{name}/runs`) and from the
 * CLI, against a real `gatehouse serve`; on a database alone (no workflow code) it is a typed not-found.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Run } from "@gatehouse/engine"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as path from "node:path"
// @ts-expect-error: a plain ESM fixture without types (the workflows module `gatehouse serve` loads)
import { ReleasePipeline } from "./fixtures/release-pipeline.mjs"
import { run } from "./utils/cli.js"
import { serverTarget, tempDir } from "./utils/targets.js"
import type { Target } from "./scenario.js"

describe("gatehouse runs start", () => {
  let target: Target
  let url: string
  beforeAll(async () => {
    target = await serverTarget()
    url = target.connection[1]
  }, 180_000)
  afterAll(() => target?.stop())

  const http = async (workflow: string, body: unknown, key?: string) => {
    const response = await fetch(`${url}/v1/workflows/${workflow}/runs`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${target.reader[1]}`,
        "content-type": "application/json",
        ...(key === undefined ? {} : { "idempotency-key": key })
      },
      body: JSON.stringify(body)
    })
    return { status: response.status, body: await response.json() as Record<string, unknown> }
  }
  const cli = (args: ReadonlyArray<string>) => run(["runs", "start", ...args, ...target.connection, ...target.reader])

  it("the same payload is the same run by code, over HTTP and from the CLI", async () => {
    const payload = { version: `9.${Date.now()}.0` }
    const byCode: Run.RunId = await Effect.runPromise(ReleasePipeline.runIdFor(payload))

    const started = await cli(["release-pipeline", "--payload", JSON.stringify(payload), "--json"])
    assert.strictEqual(started.code, 0, started.stderr)
    assert.deepStrictEqual(JSON.parse(started.stdout), { runId: byCode, workflow: "release-pipeline", created: true })

    const again = await http("release-pipeline", { payload })
    assert.strictEqual(again.status, 200)
    assert.deepStrictEqual(again.body, { runId: byCode, workflow: "release-pipeline", created: false })

    const human = await cli(["release-pipeline", "--payload", JSON.stringify(payload)])
    assert.strictEqual(human.code, 0, human.stderr)
    assert.include(human.stdout, `already started: run ${byCode}`)
  }, 180_000)

  const runCount = async () => {
    const runs = await run(["runs", "list", "--workflow", "release-pipeline", "--limit", "500", "--json", ...target.connection, ...target.reader])
    assert.strictEqual(runs.code, 0, runs.stderr)
    return (JSON.parse(runs.stdout) as { runs: ReadonlyArray<unknown> }).runs.length
  }

  it("a payload the schema refuses is InvalidPayload everywhere, naming the field, and starts nothing", async () => {
    const before = await runCount()
    const payload = { version: 42 }
    const byCode = await Effect.runPromiseExit(ReleasePipeline.runIdFor(payload))
    assert.isTrue(Exit.isFailure(byCode))
    if (Exit.isFailure(byCode)) assert.include(JSON.stringify(byCode.cause), "InvalidPayload")

    const over = await http("release-pipeline", { payload })
    assert.strictEqual(over.status, 400)
    assert.strictEqual(over.body._tag, "InvalidPayload")

    const cliResult = await cli(["release-pipeline", "--payload", JSON.stringify(payload)])
    assert.strictEqual(cliResult.code, 2)
    assert.include(cliResult.stderr, "version")

    const notJson = await cli(["release-pipeline", "--payload", "{not json"])
    assert.strictEqual(notJson.code, 2)
    assert.include(notJson.stderr, "--payload")

    assert.strictEqual(await runCount(), before)
  }, 180_000)

  it("an unknown workflow is WorkflowNotFound: 404 over HTTP, exit 3 from the CLI", async () => {
    const over = await http("no-such-workflow", { payload: {} })
    assert.strictEqual(over.status, 404)
    assert.strictEqual(over.body._tag, "WorkflowNotFound")
    const cliResult = await cli(["no-such-workflow", "--payload", "{}"])
    assert.strictEqual(cliResult.code, 3)
    assert.include(cliResult.stderr, "no-such-workflow")
  }, 180_000)

  it("on a database alone it is not-found, with the way through a server", async () => {
    const temp = tempDir()
    try {
      const database = path.join(temp.dir, "alone.db")
      const migrated = await run(["migrate", "--database", database])
      assert.strictEqual(migrated.code, 0, migrated.stderr)
      const result = await run(["runs", "start", "release-pipeline", "--payload", "{\"version\":\"1\"}", "--database", database])
      assert.strictEqual(result.code, 3)
      assert.include(result.stderr, "--server URL")
    } finally {
      temp.remove()
    }
  }, 180_000)
})
