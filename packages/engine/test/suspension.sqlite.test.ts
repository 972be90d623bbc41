import { suite } from "./suspension.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("suspensions (SQLite)", sqlite)
