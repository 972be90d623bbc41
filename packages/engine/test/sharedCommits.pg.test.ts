import { describe } from "@effect/vitest"
import { suite } from "./sharedCommits.js"
import { pg, pgAvailable } from "./utils/database.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("shared commits and batch starts (PostgreSQL)", pg)
})
