import { suite } from "./decisionFlow.js"
import { sqliteEngine } from "./utils/fixtures.js"

suite("HTTP decision flow (SQLite)", sqliteEngine)
