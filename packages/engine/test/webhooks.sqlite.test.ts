import { suite } from "./webhooks.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("webhooks (SQLite)", sqlite)
