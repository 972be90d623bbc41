import { suite } from "./sharedCommits.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("shared commits and batch starts (SQLite)", sqlite)
