/**
 * The values of the engine's literal schemas that options offer (`--status`, `--order`), written out here:
 * the command line is built at start-up, and reading them from the schemas would load the engine, its
 * storage and both SQL drivers for every command, `--help` included. Each list must be exactly its engine
 * type (a value added to or removed from the engine fails to compile here); test/choices.test.ts checks
 * that the order, which the help shows, is the schema's.
 */
import type { Approvals, Run, Webhooks } from "@gatehouse/engine"

/** `values` if they are members of `A` and name every member: anything else does not compile. */
const exactly = <A extends string>() =>
<const L extends ReadonlyArray<A>>(values: L & ([A] extends [L[number]] ? unknown : never)): L => values

/** `Approvals.ApprovalStatus.literals` */
export const approvalStatuses = exactly<Approvals.ApprovalStatus>()([
  "waiting-approval",
  "approved",
  "denied",
  "changes-requested",
  "timed-out",
  "canceled"
])

/** `Approvals.ListOrder.literals` */
export const approvalOrders = exactly<Approvals.ListOrder>()(["requested", "newest", "deadline"])

/** `Run.RunStatus.literals` */
export const runStatuses = exactly<Run.RunStatus>()([
  "pending",
  "running",
  "suspended",
  "waiting-approval",
  "runnable",
  "completed",
  "failed",
  "canceled"
])

/** `Webhooks.DeliveryStatus.literals` */
export const deliveryStatuses = exactly<typeof Webhooks.DeliveryStatus.Type>()([
  "pending",
  "delivering",
  "delivered",
  "dead"
])
