/**
 * The `gatehouse` binary as a child process (`node packages/cli/bin/gatehouse.mjs`, which runs the built
 * dist/), with a plain shell's environment: nothing of this vitest run, no TypeScript loader.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as path from "node:path"

export const bin = path.join(__dirname, "..", "..", "bin", "gatehouse.mjs")
export const fixtures = path.join(__dirname, "..", "fixtures")
export const releaseModule = path.join(fixtures, "release-pipeline.mjs")

export const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith("VITEST") || key === "NODE_OPTIONS" || key === "TEST" || key.startsWith("npm_")) continue
    if (key.startsWith("GATEHOUSE_")) continue
    env[key] = value
  }
  return { ...env, NO_COLOR: "1", ...extra }
}

export interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs a command to its end (bounded: a hung command fails the test instead of hanging it). */
export const run = (
  args: ReadonlyArray<string>,
  options: { readonly env?: Record<string, string>; readonly cwd?: string; readonly script?: string } = {}
): Promise<Result> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.script ?? bin, ...args], {
      cwd: options.cwd ?? fixtures,
      env: cleanEnv(options.env),
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`gatehouse ${args.join(" ")} did not finish in 180 s\n${stdout}\n${stderr}`))
    }, 180_000)
    child.stdout.on("data", (chunk) => (stdout += chunk))
    child.stderr.on("data", (chunk) => (stderr += chunk))
    child.on("error", reject)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

export const gatehouse = run

/** Runs a command that must succeed and returns its stdout. */
export const ok = async (args: ReadonlyArray<string>, env?: Record<string, string>): Promise<string> => {
  const result = await run(args, env === undefined ? {} : { env })
  if (result.code !== 0) {
    throw new Error(`gatehouse ${args.join(" ")} exited ${result.code}\n${result.stdout}\n${result.stderr}`)
  }
  return result.stdout
}

/** Runs a command with --json that must succeed and parses its one JSON document. */
export const okJson = async (args: ReadonlyArray<string>, env?: Record<string, string>): Promise<any> =>
  JSON.parse(await ok([...args, "--json"], env))

/** A long-running command (worker, serve, events tail --follow) whose output is watched. */
export interface Background {
  readonly child: ChildProcess
  readonly output: () => string
  readonly stdout: () => string
  /** Resolves with the first match of `pattern` in stdout+stderr; bounded. */
  readonly waitFor: (pattern: RegExp, what: string) => Promise<RegExpExecArray>
  readonly exited: Promise<number | null>
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

export const background = (args: ReadonlyArray<string>, env?: Record<string, string>): Background => {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: fixtures,
    env: cleanEnv(env),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let all = ""
  const listeners = new Set<() => void>()
  const notify = () => listeners.forEach((listener) => listener())
  child.stdout!.on("data", (chunk) => {
    stdout += chunk
    all += chunk
    notify()
  })
  child.stderr!.on("data", (chunk) => {
    all += chunk
    notify()
  })
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code, signal) => {
      resolve(code ?? (signal !== null ? 128 : null))
      notify()
    })
  )
  const waitFor = (pattern: RegExp, what: string) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(all)
        if (match !== null) {
          done()
          resolve(match)
        } else if (child.exitCode !== null || child.signalCode !== null) {
          done()
          reject(new Error(`gatehouse ${args[0]} exited before ${what}:\n${all}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`no ${what} in 120 s from gatehouse ${args.join(" ")}:\n${all}`))
      }, 120_000)
      const done = () => {
        clearTimeout(timer)
        listeners.delete(check)
      }
      listeners.add(check)
      check()
    })
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    const code = await exited
    clearTimeout(timer)
    return code
  }
  return { child, output: () => all, stdout: () => stdout, waitFor, exited, stop }
}

/** Retries `check` until it returns a value (not undefined), within a generous bound; no fixed sleeps. */
export const eventually = async <A>(what: string, check: () => Promise<A | undefined>): Promise<A> => {
  const deadline = Date.now() + 120_000
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined) return value
    } catch (error) {
      last = error
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${what}: not within 120 s${last !== undefined ? `\n${String(last)}` : ""}`)
}
