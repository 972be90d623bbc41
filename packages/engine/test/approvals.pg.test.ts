import { describe } from "@effect/vitest"
import { suite } from "./approvals.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("approvals (PostgreSQL)", pg)
})
