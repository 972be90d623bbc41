/**
 * Outside completions of durable deferreds (`Workflows.completeDeferred` and `completeDeferredJson`):
 * first completion wins, under the run's lock; a JSON completion is validated against the schema the run
 * stored at its `await`, or against the deferred declared in this process.
 *
 * @internal
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Run from "../../Run.js"
import { formatError } from "../codec.js"
import { declared, invalidCompletion } from "../deferreds.js"
import { jsonProblem, stringProblem } from "../json.js"
import * as JsonSchemaValidator from "../jsonSchemaValidator.js"
import type { RunRow } from "../rows.js"
import type * as Storage from "../storage.js"
import * as Tracing from "../tracing.js"
import { DeferredExit, DeferredNotReady, NodeKindMismatch } from "./models.js"

/**
 * `completeDeferred` and `completeDeferredJson` on a storage; `getRun` fails with `RunNotFound`.
 *
 * @internal
 */
export const make = (
  storage: Storage.Storage["Type"],
  getRun: (runId: string) => Effect.Effect<RunRow, Run.RunNotFound | SqlError>
) => {
  const { journal, runs: store, signals } = storage
  const { errorsText, validatorFor } = JsonSchemaValidator.make()

  /** The node a completion addresses, if the run reached it: refused unless it is a deferred. */
  const deferredNode = (runId: string, name: string) =>
    Effect.gen(function*() {
      const node = yield* journal.getNode(runId, name)
      if (Option.isSome(node) && node.value.kind !== "deferred") {
        return yield* new NodeKindMismatch({ runId, nodeId: name, expected: "deferred", actual: node.value.kind })
      }
      return node
    })

  /** Why a JSON completion does not match the deferred's schema, `DeferredNotReady` when none is known. */
  const checkJson = (runId: string, name: string, exit: DeferredExit, encoded: unknown) =>
    Effect.gen(function*() {
      const invalid = (reason: string) => invalidCompletion(name, reason)
      const stored = yield* journal.getNodeJsonSchema(runId, name)
      if (Option.isSome(stored)) {
        const schemas = stored.value as { readonly success: unknown; readonly failure: unknown }
        const [schema, value, dataVar] = exit._tag === "Success"
          ? [schemas.success, exit.value, "success"]
          : [schemas.failure, exit.error, "failure"]
        const validate = validatorFor(schema)
        if (!validate(value)) return yield* invalid(errorsText(validate.errors, { dataVar }))
        return
      }
      const deferred = declared.get(name)
      if (deferred === undefined) return yield* new DeferredNotReady({ runId, nodeId: name })
      yield* Schema.decodeUnknown(deferred.exitSchema)(encoded).pipe(
        Effect.mapError((error) => invalid(formatError(error)))
      )
    })

  const completeDeferred = <E = never>(
    options: { readonly runId: string; readonly name: string; readonly exit: unknown },
    check?: Effect.Effect<void, E | SqlError>
  ) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const link = yield* Tracing.currentLink
      // The run's lock (see `internal/storage/runs.ts`), not its row's: first completion wins through the node's
      // own upsert, and a runner claiming the woken run must not skip it because another completion is in
      // flight. The row is written last, by the wake.
      const outcome = yield* Effect.gen(function*() {
        yield* store.lockRun(options.runId)
        const run = yield* getRun(options.runId)
        if (check !== undefined) {
          const node = yield* deferredNode(options.runId, options.name)
          // A webhook's retry stays idempotent after the run went on and ended.
          if (Option.isSome(node) && node.value.status === "completed") return "already-completed" as const
        }
        if (Run.isTerminal(run.status)) {
          return yield* new Run.RunNotActive({ runId: options.runId, status: run.status })
        }
        if (check !== undefined) yield* check
        const completed = yield* journal.completeNodeFromOutside({
          runId: options.runId,
          nodeId: options.name,
          kind: "deferred",
          exit: options.exit,
          now
        })
        if (!completed) {
          const latest = yield* getRun(options.runId)
          if (Run.isTerminal(latest.status)) {
            return yield* new Run.RunNotActive({ runId: options.runId, status: latest.status })
          }
          yield* deferredNode(options.runId, options.name)
          return "already-completed" as const
        }
        yield* store.wake(options.runId, now, link)
        yield* storage.events.append({ runId: options.runId, nodeId: options.name, type: "deferred.completed", now })
        return "completed" as const
      }).pipe(storage.transaction)
      if (outcome === "completed") yield* signals.work.notify
      return outcome
    })

  const completeDeferredJson = (options: {
    readonly runId: string
    readonly name: string
    readonly exit: DeferredExit
  }) =>
    Effect.gen(function*() {
      const invalid = (reason: string) =>
        invalidCompletion(typeof options.name === "string" ? options.name : "(not a string)", reason)
      const exit = yield* Schema.decodeUnknown(DeferredExit)(options.exit).pipe(
        Effect.mapError((error) => invalid(formatError(error)))
      )
      const nameProblem = stringProblem(options.name)
      if (nameProblem !== undefined || options.name === "") return yield* invalid(`name ${nameProblem ?? "is empty"}`)
      const value = exit._tag === "Success" ? exit.value : exit.error
      // Stored as JSON and decoded on replay: it must come back exactly as sent.
      const problem = jsonProblem(value, { undefinedProperties: "absent" })
      if (problem !== undefined) return yield* invalid(`the completion is not JSON: ${problem}`)
      const encoded = exit._tag === "Success"
        ? { _tag: "Success", value: exit.value }
        : { _tag: "Failure", cause: { _tag: "Fail", error: exit.error } }
      return yield* completeDeferred(
        { runId: options.runId, name: options.name, exit: encoded },
        checkJson(options.runId, options.name, exit, encoded)
      )
    })

  return { completeDeferred, completeDeferredJson } as const
}
