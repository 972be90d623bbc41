#!/usr/bin/env node
// The `gatehouse` command. A built package runs dist/bin.js; in the repository the TypeScript sources
// run through tsx (a development dependency of the workspace).
import { existsSync } from "node:fs"

const built = new URL("../dist/bin.js", import.meta.url)
if (existsSync(built)) {
  await import(built.href)
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import(new URL("../src/bin.ts", import.meta.url).href)
}
