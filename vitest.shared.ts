import * as path from "node:path"
import type { ViteUserConfig } from "vitest/config"

// Inside the repository, workspace packages resolve to their TypeScript sources (the "@gatehouse/source"
// export condition); what `npm pack` ships resolves to the compiled dist/.
const conditions = ["@gatehouse/source", "module", "node", "development|production"]

const config: ViteUserConfig = {
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@gatehouse/source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    setupFiles: [path.join(__dirname, "vitest.setup.ts")],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
}

export default config
