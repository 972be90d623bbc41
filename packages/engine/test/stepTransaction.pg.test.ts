import { describe } from "@effect/vitest"
import { suite } from "./stepTransaction.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("Step.transaction (PostgreSQL)", pg)
})
