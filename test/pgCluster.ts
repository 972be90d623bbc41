/**
 * A private PostgreSQL cluster for one test: `initdb` in a temporary directory, started on a free port,
 * stopped and removed when the scope closes. A test that restarts PostgreSQL restarts this cluster only,
 * never the shared server other test files run against.
 *
 * The binaries are looked up in `GATEHOUSE_PG_BIN`, then `/usr/lib/postgresql/<newest>/bin`, then `PATH`.
 * PostgreSQL refuses to run as root: when the tests run as root, its commands run as the `postgres` user
 * (through `runuser`), and the temporary directory is given to that user.
 */
import * as Effect from "effect/Effect"
import { execFile, execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"

export interface PgCluster {
  readonly url: string
  readonly port: number
  /** Stops the server the way a crash does (`pg_ctl stop -m immediate`), then starts it again. */
  readonly restart: Effect.Effect<void, Error>
  readonly stop: Effect.Effect<void, Error>
  readonly start: Effect.Effect<void, Error>
}

const binDir = (): string | undefined => {
  if (process.env.GATEHOUSE_PG_BIN) return process.env.GATEHOUSE_PG_BIN
  const root = "/usr/lib/postgresql"
  if (fs.existsSync(root)) {
    const versions = fs.readdirSync(root).filter((name) => fs.existsSync(path.join(root, name, "bin", "initdb")))
    versions.sort((a, b) => Number(b) - Number(a))
    if (versions.length > 0) return path.join(root, versions[0], "bin")
  }
  const found = spawnSync("sh", ["-c", "command -v initdb"], { encoding: "utf8" })
  return found.status === 0 ? path.dirname(found.stdout.trim()) : undefined
}

/** Where a private cluster could be started from, or why not. */
export const clusterAvailable = (): true | string => {
  const bin = binDir()
  if (bin === undefined) return "no initdb found (set GATEHOUSE_PG_BIN)"
  if (process.getuid?.() === 0 && spawnSync("sh", ["-c", "command -v runuser && id postgres"]).status !== 0) {
    return "running as root without runuser or a postgres user"
  }
  return true
}

const freePort = Effect.async<number, Error>((resume) => {
  const server = net.createServer()
  server.on("error", (error) => resume(Effect.fail(error)))
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

export const make: Effect.Effect<PgCluster, Error, import("effect/Scope").Scope> = Effect.gen(function*() {
  const bin = binDir()
  if (bin === undefined) return yield* Effect.fail(new Error("PostgreSQL binaries not found (set GATEHOUSE_PG_BIN)"))
  const asRoot = process.getuid?.() === 0
  const run = (command: string, args: ReadonlyArray<string>) =>
    Effect.async<void, Error>((resume) => {
      const file = path.join(bin, command)
      execFile(
        asRoot ? "runuser" : file,
        asRoot ? ["-u", "postgres", "--", file, ...args] : [...args],
        { timeout: 120_000 },
        (error, _stdout, stderr) =>
          resume(error ? Effect.fail(new Error(`${command} failed: ${stderr || error}`)) : Effect.void)
      )
    })
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-pg-"))
      if (asRoot) execFileSync("chown", ["postgres", dir])
      return dir
    }),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  const data = path.join(dir, "data")
  yield* run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
  const port = yield* freePort
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c max_connections=200",
    "-c shared_buffers=32MB"
  ].join(" ")
  const start = run("pg_ctl", ["-D", data, "-o", options, "-l", path.join(dir, "log"), "-w", "-t", "120", "start"])
  const stop = run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
  yield* Effect.acquireRelease(start, () => Effect.ignore(stop))
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    restart: Effect.zipRight(stop, start),
    stop,
    start
  }
})
