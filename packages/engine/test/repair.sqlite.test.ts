import { suite } from "./repair.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("repair (SQLite)", sqlite)
