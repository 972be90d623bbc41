import { describe } from "@effect/vitest"
import { suite } from "./stepTransaction.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("Step.transaction (PostgreSQL)", pg)
})
