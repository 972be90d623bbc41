import { describe } from "vitest"
import { pgAvailable } from "./inbox/harness.js"
import { suite } from "./inbox/scenarios.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("pg")
})
