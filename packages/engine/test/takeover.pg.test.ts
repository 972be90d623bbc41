import { describe } from "@effect/vitest"
import { suite } from "./takeover.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("lease takeover (PostgreSQL)", pg, "database")
})
