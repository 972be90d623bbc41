import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Effect from "effect/Effect"
import { suite } from "./suspensionProperty.js"

// One engine on an in-memory database for all the bodies: the property is about executions, not files.
const memory = Effect.succeed({ dialect: "sqlite" as const, client: () => SqliteClient.layer({ filename: ":memory:" }) })

suite("generated bodies (SQLite)", memory, { bodies: Number(process.env.BODIES ?? 2000), batch: 50 })
