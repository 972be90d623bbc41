import * as os from "node:os"
import { defineConfig } from "vitest/config"

// Most test files spend their time waiting — on child processes (the CLI, workers, servers), on the
// database, on a browser — not computing in vitest's own worker. vitest's default of (cores - 1) workers
// runs the whole suite one file at a time on a 2-core machine; three files at once on 2 cores (one and a
// half per core) roughly halves its wall time and leaves the tests' own processes room to run.
// GATEHOUSE_TEST_WORKERS overrides the count (1 runs one file at a time, as before).
const cores = os.availableParallelism?.() ?? os.cpus().length
const workers = Number(process.env.GATEHOUSE_TEST_WORKERS ?? Math.max(2, Math.ceil(cores * 1.5)))

export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts", "test/vitest.config.ts"],
    pool: "forks",
    maxWorkers: workers,
    minWorkers: 1
  }
})
