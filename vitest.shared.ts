import * as path from "node:path"
import type { ViteUserConfig } from "vitest/config"

const config: ViteUserConfig = {
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: [path.join(__dirname, "vitest.setup.ts")],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
}

export default config
