import { describe } from "@effect/vitest"
import { suite } from "./takeover.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("lease takeover (PostgreSQL)", pg, "database")
})
