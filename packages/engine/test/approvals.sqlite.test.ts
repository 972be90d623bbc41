import { suite } from "./approvals.js"
import { sqlite } from "./utils/database.js"

suite("approvals (SQLite)", sqlite)
