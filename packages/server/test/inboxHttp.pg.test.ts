import { describe } from "@effect/vitest"
import { suite } from "./inboxHttp.js"
import { pgAvailable, pgEngine } from "./utils/fixtures.js"

describe.skipIf(!pgAvailable)("PostgreSQL", () => {
  suite("inbox over HTTP (PostgreSQL)", pgEngine)
})
