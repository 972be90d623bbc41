import { suite } from "./durableCore.js"
import { sqlite } from "@gatehouse/test-utils/Database"

suite("durable core (SQLite)", sqlite)
