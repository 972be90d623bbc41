import { sqliteEngine, suite } from "./deferreds.js"

suite("HTTP deferred completion (SQLite)", sqliteEngine)
