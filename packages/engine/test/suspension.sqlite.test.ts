import { suite } from "./suspension.js"
import { sqlite } from "./utils/database.js"

suite("suspensions (SQLite)", sqlite)
