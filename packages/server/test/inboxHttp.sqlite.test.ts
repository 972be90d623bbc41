import { suite } from "./inboxHttp.js"
import { sqliteEngine } from "./utils/fixtures.js"

suite("inbox over HTTP (SQLite)", sqliteEngine)
