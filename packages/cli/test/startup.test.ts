/**
 * What `gatehouse` loads to start: the command line only, and then what the command's path needs. The
 * engine with its SQL drivers is loaded for a database, the HTTP client and the server's API for
 * `--server`; `--help` and a usage error load neither (each spawn of the CLI costs that much less). The
 * options' value lists, written out in the CLI so that building the command line needs no engine, are the
 * engine's schemas' own.
 */
import { Approvals, Run, Webhooks } from "@gatehouse/engine"
import { assert, describe, it } from "@effect/vitest"
import * as path from "node:path"
import * as Choices from "../src/internal/choices.js"
import { fixtures, gatehouse } from "./utils/cli.js"
import { tempDir } from "./utils/targets.js"

/** The modules a command loads, by the `loaded <url>` lines of fixtures/loads.mjs. */
const loads = async (args: ReadonlyArray<string>) => {
  const result = await gatehouse(args, { env: { NODE_OPTIONS: `--import=${path.join(fixtures, "loads.mjs")}` } })
  const urls = result.stderr.split("\n").filter((line) => line.startsWith("loaded ")).map((line) => line.slice(7))
  assert.isAbove(urls.length, 0, result.stderr)
  const has = (pattern: RegExp) => urls.some((url) => pattern.test(url))
  return {
    code: result.code,
    engine: has(/\/packages\/engine\/|\/@gatehouse\/engine\//),
    server: has(/\/packages\/server\/|\/@gatehouse\/server\//),
    sqlite: has(/\/better-sqlite3\//),
    pg: has(/\/node_modules\/pg\//),
    httpApiClient: has(/\/@effect\/platform\/dist\/esm\/HttpApiClient\.js$/)
  }
}

describe("gatehouse start-up", () => {
  it("the options' values are the engine's, in its order", () => {
    assert.deepStrictEqual(Choices.approvalStatuses, Approvals.ApprovalStatus.literals)
    assert.deepStrictEqual(Choices.approvalOrders, Approvals.ListOrder.literals)
    assert.deepStrictEqual(Choices.runStatuses, Run.RunStatus.literals)
    assert.deepStrictEqual(Choices.deliveryStatuses, Webhooks.DeliveryStatus.literals)
  })

  it("--help and a usage error load no engine, server, SQL driver or HTTP client", async () => {
    for (const args of [["--help"], ["approvals", "list", "--status", "nope"]]) {
      const loaded = await loads(args)
      assert.deepStrictEqual(loaded, {
        code: args[0] === "--help" ? 0 : 2,
        engine: false,
        server: false,
        sqlite: false,
        pg: false,
        httpApiClient: false
      }, args.join(" "))
    }
  }, 180_000)

  it("a command on a database loads the engine, not the server's API or the HTTP client", async () => {
    const temp = tempDir()
    try {
      const loaded = await loads(["approvals", "list", "--database", path.join(temp.dir, "gh.db")])
      assert.strictEqual(loaded.code, 0)
      assert.isTrue(loaded.engine && loaded.sqlite)
      assert.isFalse(loaded.server || loaded.httpApiClient)
    } finally {
      temp.remove()
    }
  }, 180_000)
})
