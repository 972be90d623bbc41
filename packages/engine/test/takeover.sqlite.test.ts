import { suite } from "./takeover.js"
import { sqlite } from "./utils/database.js"

suite("lease takeover (SQLite)", sqlite)
