import { describe } from "@effect/vitest"
import { suite } from "./sharedCommits.js"
import { pg, pgAvailable } from "@gatehouse/test-utils/Database"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("shared commits and batch starts (PostgreSQL)", pg)
})
