#!/usr/bin/env node
// The `gatehouse` command. A built package runs dist/bin.js. In the repository before a build, the
// TypeScript sources run in a child Node with tsx and the `@gatehouse/source` export condition (so the
// workspace packages resolve to their sources too); signals and the exit code pass through.
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { createRequire } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"

const built = new URL("../dist/bin.js", import.meta.url)
if (existsSync(built)) {
  await import(built.href)
} else {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
  const source = fileURLToPath(new URL("../src/bin.ts", import.meta.url))
  const child = spawn(
    process.execPath,
    ["--conditions=@gatehouse/source", "--import", tsx, source, ...process.argv.slice(2)],
    { stdio: "inherit" }
  )
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal))
  child.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)))
}
