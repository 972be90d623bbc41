import { suite } from "./sharedCommits.js"
import { sqlite } from "./utils/database.js"

suite("shared commits and batch starts (SQLite)", sqlite)
