/**
 * Invariant 7 over generated workflow bodies: random combinations of `fork`/`join`/`await`/`all`/`race`/
 * `catchAllCause`/`tapErrorCause`/`either`/`exit`/`sandbox`/`timeout` around approvals, deferreds, durable
 * sleeps and steps. For every body, with every wait undecided, a model says which steps may run, which
 * must, and which waits must be recorded; the engine's first execution is checked against it. Then every
 * wait is decided until the run completes, and each step outside a race ran exactly once.
 */
import { assert, describe, it } from "@effect/vitest"
import { Approval, Approvals, DurableClock, DurableDeferred, GatehouseTest, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type { MakeDatabase } from "@gatehouse/test-utils/Database"
import { buildEngine, provideContext } from "./utils/engine.js"

export type Body =
  | { readonly t: "step" | "approval" | "deferred" | "sleep"; readonly id: string }
  | { readonly t: "seq" | "all"; readonly ps: ReadonlyArray<Body> }
  | { readonly t: "race"; readonly a: Body; readonly b: Body }
  | { readonly t: "forkJoin" | "forkAwait" | "either" | "exit" | "timeout" | "sandbox"; readonly p: Body }
  | { readonly t: "catch" | "tap"; readonly p: Body; readonly h: string }

// ---------------------------------------------------------------------------------------------------------
// The model: what a body does while every wait is undecided.

const isWait = (t: Body["t"]) => t === "approval" || t === "deferred" || t === "sleep"

/** The body never completes while its waits are undecided. */
export const blocks = (p: Body): boolean => {
  switch (p.t) {
    case "step":
      return false
    case "approval":
    case "deferred":
    case "sleep":
      return true
    case "seq":
    case "all":
      return p.ps.some(blocks)
    case "race":
      return blocks(p.a) && blocks(p.b)
    default:
      return blocks(p.p)
  }
}

/** Steps that may run (`may`), steps that must run (`must`) and waits that must be recorded (`reach`). */
export const expectations = (root: Body) => {
  const may = new Set<string>()
  const must = new Set<string>()
  const reach = new Set<string>()
  const walk = (p: Body, certain: boolean): void => {
    switch (p.t) {
      case "step":
        may.add(p.id)
        if (certain) must.add(p.id)
        return
      case "approval":
      case "deferred":
      case "sleep":
        if (certain) reach.add(p.id)
        return
      case "seq":
        for (const q of p.ps) {
          walk(q, certain)
          if (blocks(q)) return
        }
        return
      case "all":
        for (const q of p.ps) walk(q, certain)
        return
      case "race": {
        // Both branches run until both wait; when one can finish, the other is cut at any point.
        const both = blocks(p.a) && blocks(p.b)
        walk(p.a, certain && both)
        walk(p.b, certain && both)
        return
      }
      default:
        walk(p.p, certain)
    }
  }
  walk(root, true)
  return { may, must, reach }
}

/**
 * Every step of the body (handlers' steps excluded: no body here ever fails, so they never run), and
 * whether it is inside a race: a race's loser may be cut anywhere, even in a step, which then runs again.
 */
const allSteps = (p: Body, out: Map<string, boolean> = new Map(), racing = false): Map<string, boolean> => {
  switch (p.t) {
    case "step":
      out.set(p.id, racing)
      break
    case "approval":
    case "deferred":
    case "sleep":
      break
    case "seq":
    case "all":
      p.ps.forEach((q) => allSteps(q, out, racing))
      break
    case "race":
      allSteps(p.a, out, true)
      allSteps(p.b, out, true)
      break
    default:
      allSteps(p.p, out, racing)
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------
// Generated bodies.

type Shape =
  | { readonly t: "step" | "approval" | "deferred" | "sleep" }
  | { readonly t: "seq" | "all"; readonly ps: ReadonlyArray<Shape> }
  | { readonly t: "race"; readonly a: Shape; readonly b: Shape }
  | { readonly t: "forkJoin" | "forkAwait" | "either" | "exit" | "timeout" | "sandbox" | "catch" | "tap"; readonly p: Shape }

const fc = FastCheck

const shape: FastCheck.Arbitrary<Shape> = fc.letrec<{ body: Shape; leaf: Shape; seq: Shape; all: Shape; race: Shape; wrap: Shape }>(
  (tie) => ({
    body: fc.oneof({ maxDepth: 4, depthSize: "small" }, tie("leaf"), tie("seq"), tie("all"), tie("race"), tie("wrap")),
    leaf: fc.constantFrom("step", "step", "approval", "deferred", "sleep").map((t) => ({ t }) as Shape),
    seq: fc.array(tie("body"), { minLength: 1, maxLength: 4 }).map((ps) => ({ t: "seq", ps }) as Shape),
    all: fc.array(tie("body"), { minLength: 1, maxLength: 3 }).map((ps) => ({ t: "all", ps }) as Shape),
    race: fc.tuple(tie("body"), tie("body")).map(([a, b]) => ({ t: "race", a, b }) as Shape),
    wrap: fc.tuple(
      fc.constantFrom("forkJoin", "forkAwait", "either", "exit", "timeout", "sandbox", "catch", "tap"),
      tie("body")
    ).map(([t, p]) => ({ t, p }) as Shape)
  })
).body

/** Gives every node its own id, and ends the body with a step that runs only after all of it. */
const named = (root: Shape): Body => {
  let n = 0
  const name = (s: Shape): Body => {
    switch (s.t) {
      case "step":
      case "approval":
      case "deferred":
      case "sleep":
        return { t: s.t, id: `${s.t}-${++n}` }
      case "seq":
      case "all":
        return { t: s.t, ps: s.ps.map(name) }
      case "race":
        return { t: "race", a: name(s.a), b: name(s.b) }
      case "catch":
      case "tap":
        return { t: s.t, p: name(s.p), h: `handler-${++n}` }
      default:
        return { t: s.t, p: name(s.p) }
    }
  }
  return { t: "seq", ps: [name(root), { t: "step", id: "end" }] }
}

export const body: FastCheck.Arbitrary<Body> = shape.map(named)

// ---------------------------------------------------------------------------------------------------------
// The workflow that runs a generated body.

/** What ran, per run, in this process: steps' effects and any handler of the body that saw something. */
const observed = new Map<string, Array<string>>()
const observe = (runId: string, what: string) =>
  Effect.sync(() => {
    const list = observed.get(runId) ?? []
    list.push(what)
    observed.set(runId, list)
  })

const deferreds = new Map<string, DurableDeferred.DurableDeferred<void>>()
const deferredOf = (id: string) => {
  let deferred = deferreds.get(id)
  if (deferred === undefined) {
    deferred = DurableDeferred.make(id)
    deferreds.set(id, deferred)
  }
  return deferred
}

/**
 * `inRace`: the node is inside a branch of a race. When a race interrupts its loser, Effect itself lets a
 * `Fiber.await` in that branch see its child's interruption: a fiber forked inside a concurrent `Effect.all`
 * belongs to the scope of the `all`'s fiber, which interrupts it before the awaiting fiber hears of its own
 * interruption (plain Effect with `Effect.never` in place of the wait does the same every time). That is the
 * race's semantics, not a suspension seen by the body, so it is recorded apart (`race-lost:await`).
 */
const interpret = (runId: string, p: Body, inRace = false): Effect.Effect<void, never, any> => {
  const go = (q: Body) => interpret(runId, q, inRace)
  switch (p.t) {
    case "step":
      return Step.run(p.id, observe(runId, `step:${p.id}`))
    case "approval":
      return Effect.asVoid(Approval.request(p.id, { title: p.id, reviewers: { users: ["ana"] } }))
    case "deferred":
      return DurableDeferred.await(deferredOf(p.id))
    case "sleep":
      return DurableClock.sleep(p.id, "1 hour")
    case "seq":
      return Effect.forEach(p.ps, go, { discard: true })
    case "all":
      return Effect.all(p.ps.map(go), { concurrency: "unbounded", discard: true })
    case "race":
      return Effect.race(interpret(runId, p.a, true), interpret(runId, p.b, true))
    case "forkJoin":
      return Effect.flatMap(Effect.fork(go(p.p)), Fiber.join)
    case "forkAwait":
      return Effect.flatMap(Effect.fork(go(p.p)), Fiber.await).pipe(
        Effect.flatMap((exit) =>
          Exit.isFailure(exit)
            ? observe(runId, inRace && Exit.isInterrupted(exit) ? "race-lost:await" : "handler:await")
            : Effect.void
        )
      )
    case "either":
      return Effect.either(Effect.sandbox(go(p.p))).pipe(
        Effect.flatMap((either) => either._tag === "Left" ? observe(runId, "handler:either") : Effect.void)
      )
    case "exit":
      return Effect.exit(go(p.p)).pipe(
        Effect.flatMap((exit) => Exit.isFailure(exit) ? observe(runId, "handler:exit") : Effect.void)
      )
    case "timeout":
      return Effect.timeout(go(p.p), "1 day").pipe(Effect.catchAllCause(() => observe(runId, "handler:timeout")))
    case "sandbox":
      return go(p.p).pipe(Effect.sandbox, Effect.catchAll(() => observe(runId, "handler:sandbox")))
    case "catch": {
      const handler = p.h
      return go(p.p).pipe(
        Effect.catchAllCause(() => Effect.zipRight(observe(runId, `handler:${handler}`), Step.run(handler, Effect.void)))
      )
    }
    case "tap":
      return go(p.p).pipe(Effect.tapErrorCause(() => observe(runId, `handler:${p.h}`)), Effect.orDie)
  }
}

const Generated = Workflow.make({
  name: "generated-body",
  payload: Schema.Struct({ key: Schema.String, body: Schema.Unknown }),
  idempotencyKey: (payload) => payload.key
})

const GeneratedLive = Generated.toLayer((payload, run) => interpret(run.runId, payload.body as Body))

// ---------------------------------------------------------------------------------------------------------
// The property.

const describeRun = (body: Body, runId: string, problem: string) =>
  `${problem}\nrun ${runId}, observed ${JSON.stringify(observed.get(runId) ?? [])}\nbody ${JSON.stringify(body)}`

export const suite = (name: string, makeDatabase: MakeDatabase, options: { readonly bodies: number; readonly batch: number }) =>
  describe(name, () => {
    it.scoped(
      `invariant 7 over ${options.bodies} generated bodies: no step after an undecided wait runs, every forked wait is recorded before the run suspends`,
      () =>
        Effect.gen(function*() {
          const db = yield* makeDatabase
          const context = yield* buildEngine(db, GeneratedLive, { pollInterval: Duration.infinity, concurrency: 32 })
          let batchNo = 0
          const checkBatch = (bodies: ReadonlyArray<Body>) =>
            Effect.gen(function*() {
              const workflows = yield* Workflows.Workflows
              const approvals = yield* Approvals.Approvals
              const batch = ++batchNo
              const runIds = yield* Generated.startMany(bodies.map((body, i) => ({ key: `${batch}-${i}`, body })))
              yield* GatehouseTest.settle

              // The first execution, every wait undecided.
              for (const [i, runId] of runIds.entries()) {
                const body = bodies[i]
                const { may, must, reach } = expectations(body)
                const seen = observed.get(runId) ?? []
                const fail = (problem: string) => assert.fail(describeRun(body, runId, problem))
                const handlers = seen.filter((what) => what.startsWith("handler:"))
                if (handlers.length > 0) fail(`a handler of the body saw the suspension: ${handlers.join(", ")}`)
                const ran = new Set(seen.filter((what) => what.startsWith("step:")).map((what) => what.slice(5)))
                for (const step of ran) if (!may.has(step)) fail(`step ${step} ran after an undecided wait`)
                for (const step of must) if (!ran.has(step)) fail(`step ${step} did not run`)
                const inspection = yield* workflows.inspect(runId)
                for (const node of inspection.nodes) {
                  if (node.kind === "step" && !may.has(node.nodeId)) fail(`step ${node.nodeId} was checkpointed after an undecided wait`)
                }
                const recorded = new Set(inspection.nodes.filter((node) => isWait(kindOf(node.kind))).map((node) => node.nodeId))
                for (const wait of reach) if (!recorded.has(wait)) fail(`wait ${wait} was not recorded before the run suspended`)
                const expected = blocks(body)
                  ? [...reach].some((id) => id.startsWith("approval-")) ? ["waiting-approval"] : ["waiting-approval", "suspended"]
                  : ["completed"]
                if (!expected.includes(inspection.run.status)) fail(`run is ${inspection.run.status}, expected ${expected.join(" or ")}`)
              }

              // Then every wait is decided, round after round, until every run completes.
              for (let round = 0; round < 24; round++) {
                let open = 0
                for (const runId of runIds) {
                  const inspection = yield* workflows.inspect(runId)
                  if (inspection.run.status === "completed") continue
                  open++
                  // The runner works meanwhile: a run may end between its inspection and a decision (the
                  // race it waited in was won by the wait decided before), and the decision is then refused.
                  for (const node of inspection.nodes) {
                    if (node.kind === "approval" && node.status === "waiting-approval") {
                      yield* approvals.decide({ runId, nodeId: node.nodeId, verdict: "approve", by: "ana" }).pipe(
                        Effect.catchIf((error) => error._tag === "DecisionConflict" && error.status === "canceled", () => Effect.void)
                      )
                    } else if (node.kind === "deferred" && node.status === "waiting") {
                      yield* DurableDeferred.complete({ runId, deferred: deferredOf(node.nodeId) }, Exit.void).pipe(
                        Effect.catchTag("RunNotActive", () => Effect.void)
                      )
                    }
                  }
                }
                if (open === 0) break
                // Time moves only while nothing executes: on SQLite a run's lease follows the same clock, and a
                // jump past it in the middle of an execution would hand the run over mid-step.
                yield* GatehouseTest.settle
                yield* TestClock.adjust("2 hours")
                yield* GatehouseTest.settle
              }
              for (const [i, runId] of runIds.entries()) {
                const body = bodies[i]
                const status = (yield* workflows.poll(runId)).status
                if (status !== "completed") assert.fail(describeRun(body, runId, `run ended ${status} after every wait was decided`))
                const seen = observed.get(runId) ?? []
                const handlers = seen.filter((what) => what.startsWith("handler:"))
                if (handlers.length > 0) assert.fail(describeRun(body, runId, `a handler ran: ${handlers.join(", ")}`))
                for (const [step, racing] of allSteps(body)) {
                  if (racing) continue
                  const times = seen.filter((what) => what === `step:${step}`).length
                  if (times !== 1) assert.fail(describeRun(body, runId, `step ${step} ran ${times} times`))
                }
                observed.delete(runId)
              }
            }).pipe(provideContext(context))

          const runtime = yield* Effect.runtime<never>()
          const batches = Math.ceil(options.bodies / options.batch)
          yield* Effect.promise(() =>
            fc.assert(
              fc.asyncProperty(fc.array(body, { minLength: options.batch, maxLength: options.batch }), (bodies) =>
                Runtime.runPromise(runtime)(checkBatch(bodies))),
              { numRuns: batches, endOnFailure: true }
            )
          )
          assert.isTrue(batchNo >= batches)
        }),
      { timeout: 600_000 }
    )
  })

const kindOf = (kind: string): Body["t"] =>
  kind === "approval" ? "approval" : kind === "deferred" ? "deferred" : kind === "clock" ? "sleep" : "step"
