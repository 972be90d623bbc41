import { suite } from "./inputs.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("hostile inputs and swallowed suspensions (SQLite)", sqlite)
