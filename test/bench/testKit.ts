/**
 * The test kit's speed: wall time per test of a user's seven-day approval-timeout test (the README's
 * pattern: `GatehouseTest.layer`, `settle`, `TestClock.adjust("7 days")`, `result`), each test on a fresh
 * layer (a new in-memory database, migrations, runner) as `it.effect` runs it. The first test pays for
 * module loading and JIT warm-up; the goal is under 100 ms per test after it. On a shared machine the wall
 * time follows the load: the line also gives the CPU time per test and the load average.
 *
 * Prints one JSON line. Run with `npm run --silent bench:test-kit` (BENCH_TESTS, default 50).
 */
import { GatehouseTest } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import { RefundReview, RefundReviewLive } from "../../scratchpad/refund.js"
import { percentile, round } from "./shared.js"

const tests = Math.max(2, Number(process.env.BENCH_TESTS ?? 50))

// One user test, as @effect/vitest's it.effect runs it: TestClock, a scope, the layer built for the test.
const userTest = Effect.gen(function*() {
  const runId = yield* RefundReview.start({ ticketId: "T-1002", amount: 80 })
  yield* GatehouseTest.settle
  yield* TestClock.adjust("7 days")
  const exit = yield* RefundReview.result(runId)
  if (!Exit.isSuccess(exit) || exit.value.status !== "declined") return yield* Effect.dieMessage("unexpected outcome")
}).pipe(
  Effect.provide(GatehouseTest.layer(RefundReviewLive)),
  Effect.scoped,
  Effect.provide(TestContext.TestContext),
  Logger.withMinimumLogLevel(LogLevel.Warning)
)

const program = Effect.gen(function*() {
  const wall: Array<number> = []
  const cpu: Array<number> = []
  for (let i = 0; i < tests; i++) {
    const start = performance.now()
    const startCpu = process.cpuUsage()
    yield* userTest
    const usedCpu = process.cpuUsage(startCpu)
    wall.push(performance.now() - start)
    cpu.push((usedCpu.user + usedCpu.system) / 1000)
  }
  const rest = wall.slice(1).sort((a, b) => a - b)
  const restCpu = cpu.slice(1).sort((a, b) => a - b)
  yield* Console.log(JSON.stringify({
    bench: "test-kit-7-day-timeout",
    tests,
    firstMs: round(wall[0], 1),
    medianMs: round(percentile(rest, 0.5), 1),
    p95Ms: round(percentile(rest, 0.95), 1),
    maxMs: round(rest[rest.length - 1], 1),
    // CPU time of this process per test (median, after the first): what the wall time is on an idle core.
    cpuMedianMs: round(percentile(restCpu, 0.5), 1),
    loadAverage: round(os.loadavg()[0], 1),
    goalMs: 100
  }))
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exit(1)
})
