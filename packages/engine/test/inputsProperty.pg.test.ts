import { describe } from "@effect/vitest"
import { suite } from "./inputsProperty.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("generated hostile input (PostgreSQL)", pg, { decide: 250, start: 250 })
})
