/**
 * Where the CLI suite runs: a database with `gatehouse worker` running the fixture module, or a real
 * `gatehouse serve` (with its in-process runner) and API tokens.
 */
import { createHash, randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Target } from "../scenario.js"
import { background, fixtures, releaseModule, run } from "./cli.js"

const reviewers = {
  quinn: ["qa"],
  rosa: ["release-managers"],
  mallory: []
} as const

export const tempDir = (): { readonly dir: string; readonly remove: () => void } => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-cli-"))
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/** `gatehouse worker` on the database; runs are started as an application's code does (Workflows.start). */
export const databaseTarget = async (url: string, cleanup: () => Promise<void> | void): Promise<Target> => {
  const migrated = await run(["migrate", "--database", url, "--json"])
  if (migrated.code !== 0) throw new Error(`gatehouse migrate failed:\n${migrated.stdout}\n${migrated.stderr}`)
  const worker = background(["worker", "--database", url, "--workflows", releaseModule, "--poll-interval", "100"])
  await worker.waitFor(/gatehouse: worker \S+ running on/, "the worker's start line")
  return {
    kind: "database",
    connection: ["--database", url],
    reader: [],
    reviewer: (who) => ["--as", who, ...reviewers[who].flatMap((role) => ["--role", role])],
    startRun: async (workflow, payload) => {
      const runId = `${workflow}-${randomUUID()}`
      const started = await run([url, workflow, runId, JSON.stringify(payload), "ci"], {
        script: path.join(fixtures, "start-run.mjs")
      })
      if (started.code !== 0) throw new Error(`start-run failed:\n${started.stdout}\n${started.stderr}`)
      return runId
    },
    stop: async () => {
      const code = await worker.stop("SIGTERM")
      await cleanup()
      if (code !== 0) throw new Error(`the worker exited ${code} on SIGTERM:\n${worker.output()}`)
    }
  }
}

const tokenOf = (who: string) => `cli-test-${who}-token-0123456789`
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

/** A real `gatehouse serve` on 127.0.0.1 port 0 with the fixture module, on a SQLite file. */
export const serverTarget = async (): Promise<Target> => {
  const temp = tempDir()
  const auth = path.join(temp.dir, "auth.json")
  fs.writeFileSync(auth, JSON.stringify({
    tokens: [
      { id: "olivia", roles: ["operator"], sha256: sha256(tokenOf("olivia")) },
      ...Object.entries(reviewers).map(([id, roles]) => ({ id, roles, sha256: sha256(tokenOf(id)) }))
    ]
  }))
  const server = background([
    "serve",
    "--database",
    path.join(temp.dir, "gh.db"),
    "--port",
    "0",
    "--auth",
    auth,
    "--workflows",
    releaseModule
  ])
  const url = (await server.waitFor(/gatehouse: listening on (http:\/\/\S+)/, "the listening line"))[1]
  return {
    kind: "server",
    connection: ["--server", url],
    reader: ["--token", tokenOf("olivia")],
    reviewer: (who) => ["--token", tokenOf(who)],
    startRun: async (workflow, payload) => {
      const response = await fetch(`${url}/v1/workflows/${workflow}/runs`, {
        method: "POST",
        headers: { authorization: `Bearer ${tokenOf("olivia")}`, "content-type": "application/json" },
        body: JSON.stringify({ payload })
      })
      const body = await response.json() as { runId: string }
      if (response.status !== 201) throw new Error(`start ${workflow}: ${response.status} ${JSON.stringify(body)}`)
      return body.runId
    },
    stop: async () => {
      const code = await server.stop("SIGTERM")
      temp.remove()
      if (code !== 0) throw new Error(`gatehouse serve exited ${code} on SIGTERM:\n${server.output()}`)
    }
  }
}
