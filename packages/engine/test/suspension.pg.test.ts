import { describe } from "@effect/vitest"
import { suite } from "./suspension.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("suspensions (PostgreSQL)", pg)
})
