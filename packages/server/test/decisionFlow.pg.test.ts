import { describe } from "@effect/vitest"
import { suite } from "./decisionFlow.js"
import { pgAvailable, pgEngine } from "./utils/fixtures.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("HTTP decision flow (PostgreSQL)", pgEngine)
})
