import { describe } from "@effect/vitest"
import { suite } from "./approvals.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("approvals (PostgreSQL)", pg)
})
