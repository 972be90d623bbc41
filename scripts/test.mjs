// The test command: runs every vitest project, says loudly when the PostgreSQL suite cannot run, and
// ends with one summary line. CI sets GATEHOUSE_REQUIRE_PG=1 so a missing database fails instead.
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, rmSync } from "node:fs"
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)
const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const requirePg = process.env.GATEHOUSE_REQUIRE_PG === "1"

const pgReachable = async () => {
  const pg = require("pg")
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query("SELECT 1")
    return true
  } catch (error) {
    return String(error?.message ?? error)
  } finally {
    await client.end().catch(() => {})
  }
}

const redacted = url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@")
const reachable = await pgReachable()
const env = { ...process.env, DATABASE_URL: url }
let warning
if (reachable !== true) {
  if (requirePg) {
    console.error(`PostgreSQL is required (GATEHOUSE_REQUIRE_PG=1) but ${redacted} is unreachable: ${reachable}`)
    process.exit(1)
  }
  env.GATEHOUSE_PG = "skip"
  warning = [
    "",
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    `!!  PostgreSQL SUITE SKIPPED: ${redacted} is unreachable (${reachable}).`,
    "!!  Only the SQLite suite ran. Point the tests at a server with",
    "!!    DATABASE_URL=postgres://user@host:5432/db npm test",
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    ""
  ].join("\n")
  console.warn(warning)
}

const results = ".vitest-results.json"
rmSync(results, { force: true })
const vitest = spawnSync(
  process.execPath,
  [
    require.resolve("vitest/vitest.mjs"),
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${results}`,
    ...process.argv.slice(2)
  ],
  { stdio: "inherit", env }
)

if (warning) console.warn(warning)
let summary = "tests: 0 passed, 1 failed (no results: vitest did not finish)"
if (existsSync(results)) {
  const report = JSON.parse(readFileSync(results, "utf8"))
  const skipped = report.numPendingTests + report.numTodoTests
  const failed = report.numFailedTests + (report.numFailedTestSuites > 0 && report.numFailedTests === 0 ? report.numFailedTestSuites : 0)
  summary = `tests: ${report.numPassedTests} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`
}
console.log(summary)
process.exit(vitest.status ?? 1)
