import * as FiberRef from "effect/FiberRef"

/**
 * What a transaction run by `PgWakeups.withTransaction` leaves to do once it has committed: the wake-ups
 * it announces, and whether it appended audit entries that the chain has yet to link.
 *
 * @internal
 */
export interface AfterCommit {
  readonly wakeups: Array<string>
  auditAppended: boolean
}

/**
 * The work left for after the commit of the transaction this fiber is in, if that transaction was started
 * by `PgWakeups.withTransaction`.
 *
 * @internal
 */
export const current: FiberRef.FiberRef<AfterCommit | undefined> = FiberRef.unsafeMake<AfterCommit | undefined>(
  undefined
)
