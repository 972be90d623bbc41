import { suite } from "./scenario.js"
import { serverTarget } from "./utils/targets.js"

suite("gatehouse against a real gatehouse serve", serverTarget)
