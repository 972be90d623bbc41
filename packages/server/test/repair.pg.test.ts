import { describe } from "@effect/vitest"
import { pg, suite } from "./repair.js"
import { pgAvailable } from "./utils/fixtures.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("repair over HTTP (PostgreSQL)", pg)
})
