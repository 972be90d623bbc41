import { describe } from "@effect/vitest"
import { suite } from "./actionLinks.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("action links (PostgreSQL)", pg)
})
