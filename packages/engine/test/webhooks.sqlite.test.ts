import { suite } from "./webhooks.js"
import { sqlite } from "./utils/database.js"

suite("webhooks (SQLite)", sqlite)
