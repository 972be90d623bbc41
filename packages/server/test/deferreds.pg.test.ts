import { describe } from "@effect/vitest"
import { pgEngine, suite } from "./deferreds.js"
import { pgAvailable } from "./utils/fixtures.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("HTTP deferred completion (PostgreSQL)", pgEngine)
})
