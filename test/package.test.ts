/**
 * @gatehouse/engine as an application consumes it: `npm pack`, then `npm install` of the tarball (plus
 * effect, the SQL drivers and the test tools) into a fresh application in a temporary directory outside
 * the workspace. The application (test/app/*.mjs, plain JavaScript) then (1) runs a workflow with plain
 * `node` that waits on an approval decided from a second process, and (2) runs its own @effect/vitest test
 * of a seven-day approval timeout with TestClock, on the one copy of `effect` it has.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"

const require = createRequire(import.meta.url)
const root = path.resolve(__dirname, "..")
const engineDir = path.join(root, "packages", "engine")
const version = (name: string): string => require(`${name}/package.json`).version

// What the README's "Install in your application" section tells a user to install.
const dependencies = [
  `effect@${version("effect")}`,
  `@effect/sql-sqlite-node@${version("@effect/sql-sqlite-node")}`,
  `@effect/sql-pg@${version("@effect/sql-pg")}`
]
const devDependencies = [`@effect/vitest@${version("@effect/vitest")}`, `vitest@${version("vitest")}`]

// The child processes get the environment of a plain shell: nothing of this vitest run, no loader.
const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("VITEST") || key === "NODE_OPTIONS" || key === "TEST" || key.startsWith("npm_")) continue
    env[key] = value
  }
  return { ...env, ...extra }
}

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (command: string, args: ReadonlyArray<string>, options: { cwd: string; env?: NodeJS.ProcessEnv }) =>
  new Promise<Result>((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? cleanEnv(), stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => stdout += chunk)
    child.stderr.on("data", (chunk) => stderr += chunk)
    child.on("error", reject)
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

const npm = (args: ReadonlyArray<string>, cwd: string) => run("npm", args, { cwd })

const ok = (what: string, result: Result) => {
  assert.strictEqual(result.code, 0, `${what} failed\n${result.stdout}\n${result.stderr}`)
  return result
}

let temp = ""
let app = ""

describe("@gatehouse/engine from a packed tarball, in a fresh application", () => {
  beforeAll(async () => {
    temp = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-package-"))
    app = path.join(temp, "app")
    fs.mkdirSync(app)
    // The tarball ships dist/: build it (incremental; `npm pack` builds it too, in `prepack`).
    ok("tsc -b", await run(process.execPath, [require.resolve("typescript/bin/tsc"), "-b", "tsconfig.src.json"], {
      cwd: engineDir
    }))
    const packed = ok("npm pack", await npm(["pack", "--pack-destination", temp, "--json"], engineDir))
    const tarball = path.join(temp, JSON.parse(packed.stdout)[0].filename)
    const files: Array<string> = JSON.parse(packed.stdout)[0].files.map((file: { path: string }) => file.path)
    assert.include(files, "dist/index.js")
    assert.include(files, "dist/index.d.ts")
    assert.include(files, "LICENSE")
    assert.isFalse(files.some((file) => file.startsWith("test/") || file.includes("tsbuildinfo")), files.join("\n"))

    for (const file of fs.readdirSync(path.join(__dirname, "app"))) {
      fs.copyFileSync(path.join(__dirname, "app", file), path.join(app, file))
    }
    fs.writeFileSync(
      path.join(app, "package.json"),
      JSON.stringify({ name: "gatehouse-app", private: true, type: "module" }, null, 2)
    )
    const flags = ["--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"]
    ok("npm install", await npm(["install", ...flags, tarball, ...dependencies], app))
    ok("npm install -D", await npm(["install", ...flags, "-D", ...devDependencies], app))
    // --ignore-scripts spares compiling better-sqlite3 (minutes on a busy 2-core machine): its native
    // binary is the one the workspace built, when the versions match; otherwise it is rebuilt here.
    const installed = path.join(app, "node_modules", "better-sqlite3")
    const built = path.join(path.dirname(require.resolve("better-sqlite3/package.json")), "build")
    if (require(path.join(installed, "package.json")).version === version("better-sqlite3")) {
      fs.cpSync(built, path.join(installed, "build"), { recursive: true })
    } else {
      ok("npm rebuild better-sqlite3", await npm(["rebuild", "better-sqlite3", "--foreground-scripts"], app))
    }
  }, 900_000)

  afterAll(() => {
    if (temp !== "") fs.rmSync(temp, { recursive: true, force: true })
  })

  it("has one copy of effect, and the engine's Effect packages are its peers", async () => {
    const listed = ok("npm ls effect", await npm(["ls", "effect", "--all", "--parseable"], app))
    const copies = new Set(listed.stdout.split("\n").filter((line) => line.trim() !== ""))
    assert.deepStrictEqual([...copies], [path.join(fs.realpathSync(app), "node_modules", "effect")])
    const engine = JSON.parse(fs.readFileSync(path.join(app, "node_modules/@gatehouse/engine/package.json"), "utf8"))
    assert.containsAllKeys(engine.peerDependencies, ["effect", "@effect/platform", "@effect/sql"])
    assert.isFalse(fs.existsSync(path.join(app, "node_modules/@gatehouse/engine/node_modules/effect")))
  })

  it("plain node on the compiled JavaScript: a run waits on an approval that a second process decides", async () => {
    const env = cleanEnv({ GATEHOUSE_DATABASE_URL: `sqlite:${path.join(app, "app.db")}`, GATEHOUSE_POLL_INTERVAL: "100 millis" })
    const main: ChildProcess = spawn(process.execPath, ["main.mjs"], { cwd: app, env, stdio: ["ignore", "pipe", "pipe"] })
    try {
      let stdout = ""
      let stderr = ""
      main.stderr!.on("data", (chunk) => stderr += chunk)
      const exited = new Promise<number | null>((resolve) => main.on("exit", resolve))
      const runId = await new Promise<string>((resolve, reject) => {
        main.stdout!.on("data", (chunk) => {
          stdout += chunk
          const waiting = /waiting (\S+)/.exec(stdout)
          if (waiting) resolve(waiting[1])
        })
        main.on("exit", () => reject(new Error(`main.mjs exited\n${stdout}\n${stderr}`)))
      })
      const decided = ok("node decide.mjs", await run(process.execPath, ["decide.mjs", runId], { cwd: app, env }))
      assert.include(decided.stdout, "decided decided")
      assert.strictEqual(await exited, 0, stderr)
      assert.include(stdout, `result {"refunded":40}`)
    } finally {
      main.kill("SIGKILL")
    }
  }, 300_000)

  it("the application's own @effect/vitest test of a seven-day approval timeout passes", async () => {
    const result = await run(process.execPath, [path.join(app, "node_modules/vitest/vitest.mjs"), "run", "--reporter=verbose"], {
      cwd: app
    })
    ok("the app's vitest run", result)
    const stdout = result.stdout.replace(/\u001b\[[0-9;]*m/g, "")
    assert.include(stdout, "a week without a decision declines the refund")
    assert.match(stdout, /Tests\s+1 passed/)
  }, 300_000)
})
