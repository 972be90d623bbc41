import { suite } from "./stepTransaction.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("Step.transaction (SQLite)", sqlite)
