import { suite } from "./takeover.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("lease takeover (SQLite)", sqlite)
