/**
 * Repairing ended runs (`Workflows.resume`, `Workflows.fork`) without asking the reviewers twice.
 *
 * A resume takes out of the run's journal what must run again, under the run's lock, and makes the run
 * runnable: steps whose recorded outcome is a failure (they run again as new attempts, with the same
 * `Step.idempotencyKey`), waits a cancel closed, and every approval (each is asked again, and the
 * decision it had reused if it still holds: `approvalReuse.ts`). Completed steps keep their results.
 *
 * A fork is a new run whose journal starts as the origin's completed nodes before `fromNode`, without its
 * approvals (asked again the same way, against the origin's decisions).
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Run from "../../Run.js"
import { formatError } from "../codec.js"
import type { NodeRow, RunRow } from "../rows.js"
import * as StartByName from "../startByName.js"
import type * as Storage from "../storage.js"
import { toSummary } from "../storage/runs.js"
import { ForkOptions, ForkResult, InvalidRequest, ResumeOptions, ResumeResult, RunNotResumable } from "./models.js"

/** What a resume takes out of the journal to run again. */
const rerunOf = (nodes: ReadonlyArray<NodeRow>): ReadonlyArray<string> =>
  nodes.filter((node) =>
    node.kind === "approval" || node.status === "canceled" ||
    (node.kind === "step" && (node.exit as { readonly _tag?: unknown } | undefined)?._tag === "Failure")
  ).map((node) => node.nodeId)

const invalid = (error: ParseResult.ParseError) => new InvalidRequest({ reason: formatError(error) })

/**
 * `resume` and `fork` on a storage; `getRun` fails with `RunNotFound`.
 *
 * @internal
 */
export const make = (
  storage: Storage.Storage["Type"],
  getRun: (runId: string) => Effect.Effect<RunRow, Run.RunNotFound | SqlError>
) => {
  const { audit, events, journal, repairs, runs, signals } = storage

  const wake = (runId: string) =>
    Effect.zipRight(signals.work.notify, signals.changes.notify).pipe(
      Effect.zipRight(Effect.map(getRun(runId), toSummary))
    )

  const resume = (options: ResumeOptions) =>
    Effect.gen(function*() {
      const { by, reason, runId } = yield* Schema.decodeUnknown(ResumeOptions)(options).pipe(Effect.mapError(invalid))
      const now = yield* Clock.currentTimeMillis
      const rerun = yield* Effect.gen(function*() {
        yield* runs.lockRun(runId)
        const run = yield* getRun(runId)
        if (run.status !== "failed" && run.status !== "canceled") {
          return yield* new RunNotResumable({ runId, status: run.status })
        }
        const rerun = rerunOf(yield* journal.loadJournal(runId))
        yield* repairs.dropNodes(runId, rerun)
        yield* repairs.reopenRun({ runId, now })
        const data = { reason, from: run.status, rerun }
        yield* events.append({ runId, type: "run.resumed", actor: by, data, now })
        yield* audit.append({ runId, action: "run.resumed", actor: by, note: reason, data, now })
        yield* storage.notify(runId)
        return rerun
      }).pipe(storage.transaction)
      return new ResumeResult({ status: "resumed", rerun, run: yield* wake(runId) })
    })

  const fork = (options: ForkOptions) =>
    Effect.gen(function*() {
      const decoded = yield* Schema.decodeUnknown(ForkOptions)(options).pipe(Effect.mapError(invalid))
      const { by, fromNode, reason, runId: origin } = decoded
      const run = yield* getRun(origin)
      const nodes = yield* journal.loadJournal(origin)
      const from = fromNode === undefined ? undefined : nodes.find((node) => node.nodeId === fromNode)
      if (fromNode !== undefined && from === undefined) {
        return yield* new InvalidRequest({ reason: `fromNode: run "${origin}" has no node "${fromNode}"` })
      }
      const payload = decoded.payload === undefined
        ? JSON.stringify(run.payload)
        : JSON.stringify(
          (yield* Effect.flatMap(StartByName.definitionOf(run.workflow), (definition) =>
            definition.prepare(decoded.payload))).payload
        )
      const now = yield* Clock.currentTimeMillis
      const id = yield* Effect.gen(function*() {
        yield* runs.lockRun(origin)
        const current = yield* getRun(origin)
        const forks = [...(current.forks ?? [])]
        const id = `${origin}.fork-${forks.length + 1}`
        forks.push(id)
        yield* repairs.insertFork({
          id,
          workflow: run.workflow,
          payload,
          startedBy: run.startedBy,
          origin,
          fromNode: from?.nodeId ?? "",
          beforeSeq: from?.seq ?? 0,
          originForks: forks,
          now
        })
        const data = { reason, forkedFrom: origin, fromNode: from?.nodeId, fork: id }
        yield* events.append({ runId: id, type: "run.started", actor: by, data: { workflow: run.workflow, ...data }, now })
        yield* events.append({ runId: origin, type: "run.forked", actor: by, data, now })
        yield* audit.append({ runId: id, action: "run.forked", actor: by, note: reason, data, now })
        yield* audit.append({ runId: origin, action: "run.forked", actor: by, note: reason, data, now })
        yield* storage.notify(id)
        return id
      }).pipe(storage.transaction)
      return new ForkResult({ runId: Run.RunId.make(id), run: yield* wake(id) })
    })

  return { resume, fork }
}
