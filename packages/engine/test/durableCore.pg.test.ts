import { describe } from "@effect/vitest"
import { suite } from "./durableCore.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("durable core (PostgreSQL)", pg)
})
