/**
 * The one error every public client call (`Workflows`, `Approvals`, `Events`, `Audit`, a workflow's
 * `start`, `execute` and `result`) fails with when the database fails it: a lost connection, a COMMIT
 * that did not go through, a server restarting. Never a defect, never the driver's own `SqlError`. The
 * call may be retried: a call that failed this way changed nothing, or (when the COMMIT itself was lost)
 * changed everything it would have, so an idempotent retry (`start` with an idempotency key, an exact
 * repeat of a decision, a cancel) converges.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The database failed an operation of the client API.
 *
 * @since 0.1.0
 * @category errors
 */
export class StorageError extends Schema.TaggedError<StorageError>("@gatehouse/engine/StorageError")("StorageError", {
  /** The public call that failed, e.g. `Approvals.decide`. */
  operation: Schema.String,
  /** What the database or its driver reported. */
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.operation} failed on storage: ${this.reason}`
  }
}
