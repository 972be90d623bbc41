import { describe } from "@effect/vitest"
import { suite } from "./webhooks.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("webhooks (PostgreSQL)", pg)
})
