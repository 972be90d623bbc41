import { suite } from "./inbox/scenarios.js"

suite("sqlite")
