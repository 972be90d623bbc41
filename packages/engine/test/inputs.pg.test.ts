import { describe } from "@effect/vitest"
import { suite } from "./inputs.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("hostile inputs and swallowed suspensions (PostgreSQL)", pg)
})
