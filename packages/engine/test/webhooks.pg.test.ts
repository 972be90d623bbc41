import { describe } from "@effect/vitest"
import { suite } from "./webhooks.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("webhooks (PostgreSQL)", pg)
})
