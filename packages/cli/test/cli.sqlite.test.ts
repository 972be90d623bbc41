import * as path from "node:path"
import { suite } from "./scenario.js"
import { databaseTarget, tempDir } from "./utils/targets.js"

suite("gatehouse on a SQLite file", () => {
  const temp = tempDir()
  return databaseTarget(path.join(temp.dir, "gatehouse.db"), temp.remove)
})
