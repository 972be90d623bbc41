import { describe } from "@effect/vitest"
import { suite } from "./repair.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("repair (PostgreSQL)", pg)
})
