import { GatehouseTest } from "@gatehouse/engine"
import { databaseUrl, pgAvailable } from "@gatehouse/test-utils/Database"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { describe } from "vitest"
import { suite } from "./scenario.js"
import { databaseTarget } from "./utils/targets.js"


// Each run of this file gets its own PostgreSQL schema, dropped at the end.
describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("gatehouse on a PostgreSQL schema", async () => {
    const scope = Effect.runSync(Scope.make())
    const { url } = await Effect.runPromise(
      Scope.extend(GatehouseTest.pgSchema({ url: databaseUrl, prefix: "gh_cli_cmd" }), scope)
    )
    return databaseTarget(url, () => Effect.runPromise(Scope.close(scope, Exit.void)))
  })
})
