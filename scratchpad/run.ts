/**
 * Runs an example on its own: an engine on a fresh SQLite file, the example's scenario, and its result
 * printed. Used when an example file is run directly with `npm run example scratchpad/<example>.ts`.
 */
import { Gatehouse } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

export const runExample = <A, E, R>(
  workflows: Layer.Layer<never, never, R>,
  scenario: Effect.Effect<A, E, Gatehouse.Services>
) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-example-"))
  return scenario.pipe(
    Effect.tap((result) => Console.log(JSON.stringify(result, null, 2))),
    Effect.provide(Gatehouse.layerSqlite({ filename: path.join(dir, "example.db"), workflows })),
    Effect.ensuring(Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))),
    (effect) => Effect.runPromise(effect as Effect.Effect<A, unknown>)
  )
}

export const isMain = (url: string) => process.argv[1] !== undefined && url.endsWith(path.basename(process.argv[1]))
