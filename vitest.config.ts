import * as os from "node:os"
import * as path from "node:path"
import { defineConfig } from "vitest/config"
import { BaseSequencer, type TestSpecification } from "vitest/node"

// Most test files spend their time waiting — on child processes (the CLI, workers, servers), on the
// database, on a browser — not computing in vitest's own worker. vitest's default of (cores - 1) workers
// runs the whole suite one file at a time on a 2-core machine; three files at once on 2 cores (one and a
// half per core) roughly halves its wall time and leaves the tests' own processes room to run.
// GATEHOUSE_TEST_WORKERS overrides the count (1 runs one file at a time, as before).
const cores = os.availableParallelism?.() ?? os.cpus().length
const workers = Number(process.env.GATEHOUSE_TEST_WORKERS ?? Math.max(2, Math.ceil(cores * 1.5)))

// The files that take minutes, longest first. Without vitest's cache of earlier durations (a fresh clone,
// CI), vitest starts the largest files first; the CLI's dialect suites are three-line files that run for
// minutes, and starting them last leaves one worker running alone at the end.
const slowest = [
  "packages/cli/test/cli.pg.test.ts",
  "test/package.test.ts",
  "packages/engine/test/suspensionProperty.sqlite.test.ts",
  "packages/cli/test/webhooks.test.ts",
  "packages/cli/test/cli.sqlite.test.ts",
  "packages/cli/test/cli.server.test.ts",
  "test/crashTorture.test.ts",
  "packages/engine/test/suspensionProperty.pg.test.ts",
  "packages/cli/test/roughEdges.test.ts",
  "packages/cli/test/policy.test.ts",
  "packages/cli/test/cli.test.ts",
  "packages/engine/test/cancelRace.pg.test.ts",
  "packages/server/test/fuzz.test.ts"
]

class SlowestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const sorted = await super.sort(files)
    const rank = (file: TestSpecification) => {
      const index = slowest.indexOf(path.relative(__dirname, file.moduleId).split(path.sep).join("/"))
      return index === -1 ? slowest.length : index
    }
    const order = sorted.map((file, index) => ({ file, index }))
      .sort((a, b) => rank(a.file) - rank(b.file) || a.index - b.index)
      .map(({ file }) => file)
    return order
  }
}

export default defineConfig({
  test: {
    projects: ["packages/*/vitest.config.ts", "test/vitest.config.ts"],
    pool: "forks",
    maxWorkers: workers,
    minWorkers: 1,
    sequence: { sequencer: SlowestFirst }
  }
})
