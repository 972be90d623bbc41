import { describe } from "@effect/vitest"
import { suite } from "./suspensionProperty.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("generated bodies (PostgreSQL)", pg, { bodies: 200, batch: 25 })
})
