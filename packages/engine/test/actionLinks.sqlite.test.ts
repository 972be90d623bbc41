import { suite } from "./actionLinks.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("action links (SQLite)", sqlite)
