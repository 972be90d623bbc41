import { suite } from "./actionLinks.js"
import { sqlite } from "./utils/database.js"

suite("action links (SQLite)", sqlite)
