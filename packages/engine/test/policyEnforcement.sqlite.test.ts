import { suite } from "./policyEnforcement.js"
import { sqlite } from "./utils/database.js"

suite("Policy enforcement (SQLite)", sqlite)
