import { sqlite, suite } from "./startByName.js"

suite("start by name (SQLite)", sqlite)
