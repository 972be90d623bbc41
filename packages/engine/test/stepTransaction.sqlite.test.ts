import { suite } from "./stepTransaction.js"
import { sqlite } from "./utils/database.js"

suite("Step.transaction (SQLite)", sqlite)
