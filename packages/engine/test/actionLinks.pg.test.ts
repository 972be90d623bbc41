import { describe } from "@effect/vitest"
import { suite } from "./actionLinks.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("action links (PostgreSQL)", pg)
})
