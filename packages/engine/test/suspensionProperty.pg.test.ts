import { describe } from "@effect/vitest"
import { suite } from "./suspensionProperty.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("generated bodies (PostgreSQL)", pg, { bodies: 200, batch: 25 })
})
