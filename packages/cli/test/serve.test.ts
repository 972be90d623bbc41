import { assert, describe, it } from "@effect/vitest"
import { GatehouseTest } from "@gatehouse/engine"
import { AuthenticationLive } from "@gatehouse/server"
import { databaseUrl, pgAvailable } from "@gatehouse/test-utils/Database"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import { createRequire } from "node:module"
import * as path from "node:path"
import { pathToFileURL } from "node:url"

// The workflows module of these tests is TypeScript: the command runs with the repository's loader.
// (by file URL: the command runs in a temporary directory, where a bare "tsx" does not resolve).
const tsxArgs = [
  "--conditions=@gatehouse/source",
  "--import",
  pathToFileURL(path.join(path.dirname(createRequire(import.meta.url).resolve("tsx/package.json")), "dist/loader.mjs")).href
]

const bin = path.join(__dirname, "..", "bin", "gatehouse.mjs")
const fixture = path.join(__dirname, "fixtures", "workflows.ts")
const tokens = { operator: "cli-operator-token-0123456789", grace: "cli-grace-token-0123456789" }

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-cli-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** `gatehouse serve …` as a child process; resolves with its URL once it prints the listening line. */
const gatehouseServe = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}) =>
  Effect.acquireRelease(
    Effect.async<{ child: ChildProcess; url: string; output: () => string }, Error>((resume) => {
      const child = spawn(process.execPath, [...tsxArgs, bin, "serve", ...args], {
        cwd,
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      const timer = setTimeout(() => resume(Effect.fail(new Error(`no listening line in 120 s:\n${output}`))), 120_000)
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        const match = /gatehouse: listening on (http:\/\/\S+)/.exec(output)
        if (match !== null) {
          clearTimeout(timer)
          resume(Effect.succeed({ child, url: match[1], output: () => output }))
        }
      }
      child.stdout.on("data", onData)
      child.stderr.on("data", onData)
      child.on("exit", (code) => {
        clearTimeout(timer)
        resume(Effect.fail(new Error(`gatehouse exited with ${code}:\n${output}`)))
      })
    }),
    ({ child }) => Effect.sync(() => child.exitCode === null && child.kill("SIGKILL"))
  )

const exited = (child: ChildProcess) =>
  Effect.async<number | null>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.succeed(child.exitCode))
    child.on("exit", (code) => resume(Effect.succeed(code)))
  })

const request = (url: string, init: RequestInit & { token?: string } = {}) =>
  Effect.promise(async () => {
    const { token, ...rest } = init
    const headers = new Headers(rest.headers)
    if (token !== undefined) headers.set("authorization", `Bearer ${token}`)
    const response = await fetch(url, { ...rest, headers })
    const text = await response.text()
    return { status: response.status, body: text === "" ? undefined : JSON.parse(text) as any }
  })

const eventually = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.retry(effect, Schedule.spaced("50 millis").pipe(Schedule.upTo("60 seconds")))

const decisionFlow = (database: (dir: string) => string) =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const auth = path.join(dir, "auth.json")
    fs.writeFileSync(auth, JSON.stringify({
      tokens: [
        { id: "olivia", roles: ["operator"], sha256: AuthenticationLive.hashToken(tokens.operator) },
        { id: "grace", roles: ["finance"], sha256: AuthenticationLive.hashToken(tokens.grace) }
      ]
    }))
    const server = yield* gatehouseServe(
      ["--database", database(dir), "--port", "0", "--auth", auth, "--workflows", fixture],
      dir
    )
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.strictEqual((yield* request(`${server.url}/healthz`)).status, 200)
    assert.strictEqual((yield* request(`${server.url}/v1/approvals`)).status, 401)

    const started = yield* request(`${server.url}/v1/workflows/refund/runs`, {
      method: "POST",
      token: tokens.operator,
      body: JSON.stringify({ payload: { ticketId: "C-1", amount: 12 } })
    })
    assert.strictEqual(started.status, 201)
    const runId = started.body.runId as string
    yield* eventually(request(`${server.url}/v1/approvals`, { token: tokens.grace }).pipe(
      Effect.filterOrFail((inbox) => inbox.body.approvals.length === 1, (inbox) => `no approval yet: ${JSON.stringify(inbox)}\n${server.output()}`)
    ))
    const decided = yield* request(`${server.url}/v1/runs/${runId}/approvals/refund-decision/decision`, {
      method: "POST",
      token: tokens.grace,
      body: JSON.stringify({ verdict: "approve" })
    })
    assert.strictEqual(decided.body.status, "decided")
    const run = yield* eventually(request(`${server.url}/v1/runs/${runId}`, { token: tokens.operator }).pipe(
      Effect.filterOrFail((run) => run.body.status === "completed", (run) => `not completed: ${JSON.stringify(run)}\n${server.output()}`)
    ))
    assert.deepStrictEqual(run.body.result, { _tag: "Success", value: { refunded: 12 } })

    server.child.kill("SIGTERM")
    const code = yield* exited(server.child).pipe(Effect.timeout("60 seconds"))
    assert.strictEqual(code, 0, server.output())
  }).pipe(Effect.scoped)

describe("gatehouse serve", () => {
  it.live("serves the API on a SQLite file, runs the module's workflows, stops on SIGTERM", () =>
    decisionFlow((dir) => path.join(dir, "gh.db")), { timeout: 240_000 })

  it.live.skipIf(!pgAvailable)("serves the API on a postgres URL", () =>
    Effect.gen(function*() {
      const { url } = yield* GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_cli" })
      yield* decisionFlow(() => url)
    }).pipe(Effect.scoped), { timeout: 240_000 })

  it.live("without --auth it still serves health and answers 401 elsewhere; --help lists serve", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const server = yield* gatehouseServe(["--database", "./gh.db", "--port", "0"], dir)
      assert.strictEqual((yield* request(`${server.url}/readyz`)).status, 200)
      assert.strictEqual((yield* request(`${server.url}/v1/runs`)).status, 401)
      assert.isTrue(fs.existsSync(path.join(dir, "gh.db")))
      const help = yield* Effect.promise(() =>
        new Promise<string>((resolve) => {
          const child = spawn(process.execPath, [...tsxArgs, bin, "--help"], { stdio: ["ignore", "pipe", "pipe"] })
          let out = ""
          child.stdout.on("data", (chunk) => (out += chunk))
          child.on("exit", () => resolve(out))
        })
      )
      assert.include(help, "serve")
    }).pipe(Effect.scoped), { timeout: 240_000 })

  it.live("the inbox: --public-url makes its cookies Secure; a bad --public-url is refused naming it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const server = yield* gatehouseServe(
        ["--database", "./gh.db", "--port", "0", "--public-url", "https://gatehouse.example.com"],
        dir,
        { GATEHOUSE_SESSION_KEY: "cli-test-session-key" }
      )
      const signIn = yield* Effect.promise(() => fetch(`${server.url}/inbox/sign-in`))
      assert.strictEqual(signIn.status, 200)
      const cookie = signIn.headers.getSetCookie().find((value) => value.startsWith("gatehouse_login="))!
      assert.match(cookie, /; Secure/i)
      assert.match(cookie, /HttpOnly/i)
      const refused = yield* Effect.promise(() =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(process.execPath, [...tsxArgs, bin, "serve", "--port", "0", "--public-url", "ftp://x"], {
            cwd: dir,
            stdio: ["ignore", "pipe", "pipe"]
          })
          let out = ""
          child.stdout.on("data", (chunk) => (out += chunk))
          child.stderr.on("data", (chunk) => (out += chunk))
          child.on("exit", (code) => resolve({ code, out }))
        })
      )
      assert.notStrictEqual(refused.code, 0)
      assert.include(refused.out, "--public-url must be an http:// or https:// URL")
    }).pipe(Effect.scoped), { timeout: 240_000 })
})
