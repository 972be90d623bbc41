import { sqlite, suite } from "./repair.js"

suite("repair over HTTP (SQLite)", sqlite)
