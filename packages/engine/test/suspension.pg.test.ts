import { describe } from "@effect/vitest"
import { suite } from "./suspension.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("suspensions (PostgreSQL)", pg)
})
