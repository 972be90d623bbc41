import { describe } from "@effect/vitest"
import { pg, suite } from "./startByName.js"
import { pgAvailable } from "./utils/fixtures.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("start by name (PostgreSQL)", pg)
})
