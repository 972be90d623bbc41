import { describe } from "@effect/vitest"
import { suite } from "./durableCore.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("durable core (PostgreSQL)", pg)
})
