import { suite } from "./approvals.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("approvals (SQLite)", sqlite)
