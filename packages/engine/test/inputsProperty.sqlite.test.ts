import { sqliteMemory, suite } from "./inputsProperty.js"

suite("generated hostile input (SQLite)", sqliteMemory, { decide: 6000, start: 5000 })
