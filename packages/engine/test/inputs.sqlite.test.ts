import { suite } from "./inputs.js"
import { sqlite } from "./utils/database.js"

suite("hostile inputs and swallowed suspensions (SQLite)", sqlite)
