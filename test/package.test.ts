/**
 * The packages as an application consumes them: `npm pack`, then the install commands of the README's
 * "install" blocks (`<!-- install: engine|server|cli -->`), run as written, with the packed tarballs in
 * place of the `@gatehouse/*` names (they are not on the registry), into fresh applications in a temporary
 * directory outside the workspace; everything else comes from the real registry, so a bare `effect` that
 * resolves to another major line fails here as it would for a user. The engine's application
 * (test/app/*.mjs, plain JavaScript) then (1) runs a workflow with plain `node` that waits on an approval
 * decided from a second process, and (2) runs its own @effect/vitest test of a seven-day approval timeout
 * with TestClock, on the one copy of `effect` it has. The server's (test/serverApp/serve.mjs) serves the
 * HTTP API from its own process; the CLI's runs `gatehouse`, installed locally and globally.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"

const require = createRequire(import.meta.url)
const root = path.resolve(__dirname, "..")
const version = (name: string): string => require(`${name}/package.json`).version
const gatehouse = ["engine", "server", "cli"] as const

/**
 * The commands of the fenced `sh` block after `<!-- install: NAME … -->` in `file`, as argument lists:
 * continuation lines joined, comments dropped.
 */
const installCommands = (file: string, name: string): Array<Array<string>> => {
  const text = fs.readFileSync(path.join(root, file), "utf8")
  const at = text.indexOf(`<!-- install: ${name} `)
  assert.isAtLeast(at, 0, `${file} has no "<!-- install: ${name}" block`)
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(at))![1]
  return block.replace(/\\\n/g, " ").split("\n")
    .map((line) => line.replace(/(^|\s)#.*$/, "").trim())
    .filter((line) => line !== "")
    .map((line) => line.split(/\s+/))
}

/** Every `npm install` line of the docs, continuation lines joined. */
const documentedInstalls = (): Array<{ readonly file: string; readonly line: string }> => {
  const files = ["README.md", "packages/engine/README.md", ...fs.readdirSync(path.join(root, "docs"))
    .filter((file) => file.endsWith(".md")).map((file) => `docs/${file}`)]
  return files.flatMap((file) =>
    fs.readFileSync(path.join(root, file), "utf8").replace(/\\\n/g, " ").split("\n")
      .filter((line) => /\bnpm (install|i)\b/.test(line))
      .map((line) => ({ file, line: line.replace(/(^|\s)#.*$/, "").trim() }))
  )
}

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

const npm = (args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}) =>
  run("npm", args, { cwd, env: cleanEnv(env) })

/**
 * How the test runs a documented install, without changing its arguments: from npm's cache when it can,
 * without audit and funding noise, and without install scripts (compiling better-sqlite3 takes minutes on
 * a busy 2-core machine: its native binary is copied from the workspace instead, see `sqliteBinary`).
 */
const installEnv = {
  npm_config_prefer_offline: "true",
  npm_config_audit: "false",
  npm_config_fund: "false",
  npm_config_ignore_scripts: "true"
}

const ok = (what: string, result: Result) => {
  assert.strictEqual(result.code, 0, `${what} failed\n${result.stdout}\n${result.stderr}`)
  return result
}

/** Packs a workspace package into `destination` (its `prepack` builds `dist/`); the tarball's file name. */
const pack = async (name: typeof gatehouse[number], destination: string): Promise<string> => {
  const packed = ok(`npm pack ${name}`, await npm(["pack", "--pack-destination", destination, "--json"], path.join(root, "packages", name)))
  const [info] = JSON.parse(packed.stdout)
  const files: Array<string> = info.files.map((file: { path: string }) => file.path)
  assert.include(files, "dist/index.js")
  assert.include(files, "dist/index.d.ts")
  if (name === "engine") assert.include(files, "LICENSE")
  assert.isFalse(files.some((file) => file.startsWith("test/") || file.includes("tsbuildinfo")), files.join("\n"))
  return info.filename
}

/** A fresh application's directory, with the three tarballs in it (as `npm pack` names them). */
const freshApp = async (dir: string) => {
  fs.mkdirSync(dir, { recursive: true })
  const tarballs: Record<string, string> = {}
  for (const name of gatehouse) tarballs[`@gatehouse/${name}`] = await pack(name, dir)
  return tarballs
}

/**
 * Runs a README block's commands as written in `cwd`, each `@gatehouse/*` name replaced by its tarball. The
 * application's `overrides` stand for the registry the unpublished `@gatehouse/*` dependencies of a tarball
 * would come from (only those the commands do not name: npm refuses an override of a direct dependency).
 */
const runInstall = async (name: string, cwd: string, tarballs: Record<string, string>, env: Record<string, string> = {}) => {
  const commands = installCommands("README.md", name)
  assert.isNotEmpty(commands)
  const named = new Set(commands.flat())
  fs.writeFileSync(
    path.join(cwd, "package.json"),
    JSON.stringify({
      name: `gatehouse-${path.basename(cwd)}`,
      private: true,
      type: "module",
      overrides: Object.fromEntries(
        Object.entries(tarballs).filter(([pkg]) => !named.has(pkg)).map(([pkg, file]) => [pkg, `file:./${file}`])
      )
    }, null, 2)
  )
  for (const [command, ...args] of commands) {
    assert.strictEqual(command, "npm")
    const written = args.map((arg) => tarballs[arg] !== undefined ? `./${tarballs[arg]}` : arg)
    ok(`${[command, ...args].join(" ")}`, await npm(written, cwd, { ...installEnv, ...env }))
  }
  return commands
}

/** Install scripts are skipped: better-sqlite3's native binary is the workspace's (same version) or rebuilt. */
const sqliteBinary = async (app: string) => {
  const installed = path.join(app, "node_modules", "better-sqlite3")
  const built = path.join(path.dirname(require.resolve("better-sqlite3/package.json")), "build")
  if (require(path.join(installed, "package.json")).version === version("better-sqlite3")) {
    fs.cpSync(built, path.join(installed, "build"), { recursive: true })
  } else {
    ok("npm rebuild better-sqlite3", await npm(["rebuild", "better-sqlite3", "--foreground-scripts"], app))
  }
}

/** The paths of the copies of `effect` an application has. */
const effectCopies = async (app: string) => {
  const listed = ok("npm ls effect", await npm(["ls", "effect", "--all", "--parseable"], app))
  return [...new Set(listed.stdout.split("\n").filter((line) => line.trim() !== ""))]
}

const temp = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-package-"))
// Three applications' node_modules: removed without blocking the worker (a synchronous removal of that
// many files on a loaded machine stalls vitest's RPC), within a generous bound.
afterAll(() => fs.promises.rm(temp, { recursive: true, force: true }), 600_000)

describe("the documented install commands", () => {
  it("pin the Effect v3 line: every effect, @effect/* and vitest package named with a version range", () => {
    const installs = documentedInstalls()
    assert.isAtLeast(installs.length, 5)
    for (const { file, line } of installs) {
      for (const arg of line.split(/\s+/)) {
        if (/^(effect|vitest|@effect\/[a-z-]+)(@|$)/.test(arg)) {
          assert.match(arg, /@[~^]?\d/, `${file}: ${arg} has no version in "${line}"`)
          assert.notMatch(arg, /^(effect|@effect\/vitest|@effect\/sql-[a-z]+)@[~^]?4/, `${file}: ${arg} is Effect v4`)
        }
      }
    }
  })
})

let app = ""

describe("@gatehouse/engine from a packed tarball, in a fresh application", () => {
  beforeAll(async () => {
    app = path.join(temp, "app")
    const tarballs = await freshApp(app)
    for (const file of fs.readdirSync(path.join(__dirname, "app"))) {
      fs.copyFileSync(path.join(__dirname, "app", file), path.join(app, file))
    }
    const commands = await runInstall("engine", app, tarballs)
    assert.deepStrictEqual(commands.map((command) => command.slice(0, 3).join(" ")), [
      "npm install @gatehouse/engine",
      "npm install -D"
    ])
    await sqliteBinary(app)
  }, 900_000)
  it("has one copy of effect, and the engine's Effect packages are its peers", async () => {
    assert.deepStrictEqual(await effectCopies(app), [path.join(fs.realpathSync(app), "node_modules", "effect")])
    assert.match(require(path.join(app, "node_modules/effect/package.json")).version, /^3\./)
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

describe("@gatehouse/server from a packed tarball, in a fresh application", () => {
  let serverApp = ""
  beforeAll(async () => {
    serverApp = path.join(temp, "server-app")
    const tarballs = await freshApp(serverApp)
    fs.copyFileSync(path.join(__dirname, "serverApp", "serve.mjs"), path.join(serverApp, "serve.mjs"))
    await runInstall("server", serverApp, tarballs)
    await sqliteBinary(serverApp)
  }, 900_000)

  it("plain node serves the HTTP API from the application's process, on one copy of effect", async () => {
    assert.deepStrictEqual(await effectCopies(serverApp), [path.join(fs.realpathSync(serverApp), "node_modules", "effect")])
    const env = cleanEnv({ GATEHOUSE_DATABASE_FILE: path.join(serverApp, "app.db") })
    const server: ChildProcess = spawn(process.execPath, ["serve.mjs"], { cwd: serverApp, env, stdio: ["ignore", "pipe", "pipe"] })
    try {
      let stdout = ""
      let stderr = ""
      server.stderr!.on("data", (chunk) => stderr += chunk)
      const port = await new Promise<string>((resolve, reject) => {
        server.stdout!.on("data", (chunk) => {
          stdout += chunk
          const listening = /listening (\d+)/.exec(stdout)
          if (listening) resolve(listening[1])
        })
        server.on("exit", () => reject(new Error(`serve.mjs exited\n${stdout}\n${stderr}`)))
      })
      const health = await fetch(`http://127.0.0.1:${port}/healthz`)
      assert.strictEqual(health.status, 200)
      assert.strictEqual((await fetch(`http://127.0.0.1:${port}/v1/approvals`)).status, 401)
    } finally {
      server.kill("SIGKILL")
    }
  }, 300_000)
})

describe("@gatehouse/cli from packed tarballs, installed locally and globally", () => {
  let cliApp = ""
  beforeAll(async () => {
    cliApp = path.join(temp, "cli-app")
    const tarballs = await freshApp(cliApp)
    // The global install names the tarballs as `npm pack` writes them (in the directory it runs in).
    await runInstall("cli", cliApp, tarballs, { npm_config_prefix: path.join(temp, "global") })
    await sqliteBinary(cliApp)
  }, 900_000)

  it("npx gatehouse answers from the local install, on one copy of effect, and opens a database", async () => {
    assert.deepStrictEqual(await effectCopies(cliApp), [path.join(fs.realpathSync(cliApp), "node_modules", "effect")])
    const bin = path.join(cliApp, "node_modules", ".bin", "gatehouse")
    const help = ok("gatehouse --help", await run(bin, ["--help"], { cwd: cliApp }))
    assert.include(help.stdout, "approvals")
    const listed = ok(
      "gatehouse approvals list",
      await run(bin, ["approvals", "list", "--database", "./gh.db", "--json"], { cwd: cliApp })
    )
    assert.deepStrictEqual(JSON.parse(listed.stdout).approvals, [])
  }, 300_000)

  it("the global install's gatehouse answers", async () => {
    const bin = path.join(temp, "global", "bin", "gatehouse")
    const help = ok("global gatehouse --help", await run(bin, ["--help"], { cwd: temp }))
    assert.include(help.stdout, "approvals")
    assert.strictEqual(ok("global gatehouse --version", await run(bin, ["--version"], { cwd: temp })).stdout.trim(), JSON.parse(fs.readFileSync(path.join(root, "packages/cli/package.json"), "utf8")).version)
  }, 300_000)
})
