import { describe } from "@effect/vitest"
import { suite } from "./policyEnforcement.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("Policy enforcement (PostgreSQL)", pg)
})
