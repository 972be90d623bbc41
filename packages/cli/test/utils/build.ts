// The CLI tests run the built package, as an application gets it: compile the engine, the server and the
// CLI to dist/ once before the project's tests (incremental: quick when nothing changed).
import { spawnSync } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

export default function setup() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "..")
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
  const result = spawnSync(
    process.execPath,
    [tsc, "-b", "packages/engine/tsconfig.src.json", "packages/server/tsconfig.src.json", "packages/cli/tsconfig.src.json"],
    { cwd: root, encoding: "utf8" }
  )
  if (result.status !== 0) throw new Error(`building dist/ failed:\n${result.stdout}\n${result.stderr}`)
}
