import { describe } from "@effect/vitest"
import { suite } from "./inputs.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("hostile inputs and swallowed suspensions (PostgreSQL)", pg)
})
