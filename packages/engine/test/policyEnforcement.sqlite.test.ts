import { suite } from "./policyEnforcement.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("Policy enforcement (SQLite)", sqlite)
