import { describe } from "@effect/vitest"
import { suite } from "./webhooks.js"
import { pgAvailable, pgEngine } from "./utils/fixtures.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("HTTP webhooks (PostgreSQL)", pgEngine)
})
