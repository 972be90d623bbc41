import { suite } from "./durableCore.js"
import { sqlite } from "./utils/database.js"

suite("durable core (SQLite)", sqlite)
