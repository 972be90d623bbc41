import { suite } from "./webhooks.js"
import { sqliteEngine } from "./utils/fixtures.js"

suite("HTTP webhooks (SQLite)", sqliteEngine)
