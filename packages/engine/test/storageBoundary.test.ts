/**
 * The storage boundary: SQL lives in `packages/engine/src/internal/storage/` behind the `Storage` service.
 * No other source file of any package imports `@effect/sql`'s `SqlClient` as a value, or a SQL driver;
 * only the set-up modules that build SQL clients for the user may (type-only imports are fine anywhere).
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")

/** Where SQL may live. */
const storageDirectory = "packages/engine/src/internal/storage/"

/** The set-up modules that build SQL clients for the user. */
const setUpModules = new Set([
  "packages/engine/src/Gatehouse.ts",
  "packages/engine/src/GatehouseTest.ts"
])

/** The tests' own support package: it builds test databases, as a test does. */
const testSupport = "packages/test-utils/"

const drivers = /^(@effect\/sql-[a-z0-9-]+(\/.*)?|pg|pg-[a-z-]+|better-sqlite3|sqlite3)$/

const sourceFiles = (directory: string): Array<string> =>
  fs.readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name)
    if (entry.isDirectory()) return sourceFiles(full)
    return /\.(ts|tsx|mts|cts)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [full] : []
  })

/** Import (and export-from) statements of a file that bring in values: type-only ones are left out. */
const valueImports = (text: string): Array<{ readonly specifier: string; readonly names: string }> => {
  const found: Array<{ readonly specifier: string; readonly names: string }> = []
  const statement = /^\s*(import|export)\s+(?!type\s)([^;'"]*?)\s*from\s*["']([^"']+)["']/gm
  for (const match of text.matchAll(statement)) {
    const names = match[2]
    // `import { type A, type B } from …` brings in no value either.
    const braces = /^\{([^}]*)\}$/.exec(names.trim())
    if (braces !== null && braces[1].split(",").every((name) => name.trim() === "" || /^type\s/.test(name.trim()))) {
      continue
    }
    found.push({ specifier: match[3], names })
  }
  for (const match of text.matchAll(/^\s*import\s*["']([^"']+)["']/gm)) found.push({ specifier: match[1], names: "" })
  for (const match of text.matchAll(/\b(?:require|import)\(\s*["']([^"']+)["']\s*\)/g)) {
    found.push({ specifier: match[1], names: "" })
  }
  return found
}

const violations = (file: string): Array<string> => {
  const text = fs.readFileSync(path.join(root, file), "utf8")
  return valueImports(text).flatMap(({ names, specifier }) => {
    if (drivers.test(specifier)) return [`${file}: imports the SQL driver ${specifier}`]
    if (specifier === "@effect/sql/SqlClient") return [`${file}: imports ${specifier} as a value`]
    if (specifier === "@effect/sql" && /\bSqlClient\b/.test(names)) return [`${file}: imports SqlClient as a value`]
    return []
  })
}

describe("the storage boundary", () => {
  const files = fs.readdirSync(path.join(root, "packages"))
    .map((pkg) => path.join(root, "packages", pkg, "src"))
    .filter((directory) => fs.existsSync(directory))
    .flatMap(sourceFiles)
    .map((file) => path.relative(root, file).split(path.sep).join("/"))

  it("finds the sources of every package", () => {
    assert.isTrue(files.some((file) => file.startsWith(storageDirectory)))
    assert.isTrue(files.some((file) => file.startsWith("packages/server/src/")))
    assert.isTrue(files.some((file) => file.startsWith("packages/cli/src/")))
  })

  it("only internal/storage/ and the set-up modules import SqlClient as a value or a SQL driver", () => {
    const found = files
      .filter((file) => !file.startsWith(storageDirectory) && !file.startsWith(testSupport) && !setUpModules.has(file))
      .flatMap(violations)
    assert.deepStrictEqual(found, [])
  })

  it("catches what it is meant to catch", () => {
    const probe = (text: string) =>
      valueImports(text).some(({ names, specifier }) =>
        drivers.test(specifier) || specifier === "@effect/sql/SqlClient" ||
        (specifier === "@effect/sql" && /\bSqlClient\b/.test(names))
      )
    assert.isTrue(probe(`import * as SqlClient from "@effect/sql/SqlClient"`))
    assert.isTrue(probe(`import { SqlClient } from "@effect/sql"`))
    assert.isTrue(probe(`import * as PgClient from "@effect/sql-pg/PgClient"`))
    assert.isTrue(probe(`import pg from "pg"`))
    assert.isTrue(probe(`const pg = require("pg")`))
    assert.isFalse(probe(`import type * as SqlClient from "@effect/sql/SqlClient"`))
    assert.isFalse(probe(`import { type SqlClient } from "@effect/sql"`))
    assert.isFalse(probe(`import type { SqlError } from "@effect/sql/SqlError"`))
  })
})
