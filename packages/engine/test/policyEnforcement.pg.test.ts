import { describe } from "@effect/vitest"
import { suite } from "./policyEnforcement.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("Policy enforcement (PostgreSQL)", pg)
})
