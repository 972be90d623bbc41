/**
 * `gatehouse why RUN`: in one screen, what the run waits on and what would unblock it, printed from the
 * engine's `Waiting.explain` (the HTTP API's `GET /v1/runs/{runId}/waiting`), never recomputed here.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import type { Waiting } from "@gatehouse/engine"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { Backend } from "../Backend.js"
import * as Output from "../Output.js"
import { runArg } from "./approvals.js"
import { connection, json, withBackend } from "./shared.js"

const who = (signers: { readonly users: ReadonlyArray<string>; readonly roles: ReadonlyArray<string> }): string =>
  [...signers.users.map((user) => `user ${user}`), ...signers.roles.map((role) => `anyone with role ${role}`)].join(
    ", "
  ) || "anyone"

const atDeadline = (wait: Waiting.ApprovalWait): string => {
  switch (wait.atDeadline) {
    case "escalate":
      return `escalates to ${wait.escalateTo === undefined ? "its escalation reviewers" : who(wait.escalateTo)}`
    case "deny":
      return "counts as denied"
    case "fail":
      return "fails the run"
    default:
      return ""
  }
}

/**
 * The command that decides an approval, as `approve` will accept it: on a database the reviewer is named
 * with `--as` and `--role` (a signer it lists when there is one); against a server the token says who.
 */
const unblockApproval = (runId: string, wait: Waiting.ApprovalWait, viaServer: boolean): string => {
  const as = viaServer
    ? ""
    : wait.mayStillSign.roles.length > 0
    ? ` --as YOUR_ID --role ${wait.mayStillSign.roles[0]}`
    : ` --as ${wait.mayStillSign.users[0] ?? "YOUR_ID"}`
  return `gatehouse approve ${runId} --node ${wait.nodeId}${as}   (or deny; \`gatehouse approvals show ${runId} --node ${wait.nodeId}\` shows the payload it asks for)`
}

/**
 * The lines that explain one blocker (`viaServer`: the reader talks to a server, which knows them by their
 * token).
 *
 * @since 0.1.0
 * @category printing
 */
export const describe = (
  runId: string,
  blocker: Waiting.Blocker,
  now: number,
  viaServer = false
): ReadonlyArray<string> => {
  switch (blocker._tag) {
    case "ApprovalWait":
      return [
        `${Output.style.yellow("approval")} ${Output.style.bold(blocker.nodeId)}  "${blocker.title}"`,
        Output.fields([
          ["requested", `${Output.relative(blocker.requestedAt, now)} by ${blocker.requestedBy}`],
          ["may still sign", who(blocker.mayStillSign)],
          [
            "asked again",
            blocker.askedAgain === undefined ? undefined : `${blocker.askedAgain.status}${
              blocker.askedAgain.decidedBy !== undefined ? ` by ${blocker.askedAgain.decidedBy}` : ""
            }${
              blocker.askedAgain.decidedAt !== undefined ? ` ${Output.relative(blocker.askedAgain.decidedAt, now)}` : ""
            } before the run was repaired; not reused: ${blocker.askedAgain.reasons.join("; ")}`
          ],
          ["may not approve", blocker.excluded.length > 0 ? `${blocker.excluded.join(", ")} (started the run)` : undefined],
          [
            "quorum",
            `${blocker.approvals.have}/${blocker.approvals.need} approvals, ${blocker.denials.have}/${blocker.denials.need} denials${
              blocker.escalations > 0 ? ` (escalation round ${blocker.escalations})` : ""
            }`
          ],
          [
            "votes",
            blocker.votes.length === 0
              ? undefined
              : blocker.votes.map((vote) => `${vote.voter} ${vote.verdict} ${Output.relative(vote.createdAt, now)}`).join(
                "; "
              )
          ],
          [
            "deadline",
            blocker.deadline === undefined
              ? "none"
              : `${Output.timestamp(blocker.deadline, now)}, then it ${atDeadline(blocker)}`
          ],
          ["unblock", unblockApproval(runId, blocker, viaServer)]
        ]).split("\n").map((line) => `  ${line}`).join("\n")
      ]
    case "TimerWait":
      return [
        `${Output.style.yellow("timer")} ${Output.style.bold(blocker.nodeId)} fires ${Output.timestamp(blocker.fireAt, now)}`,
        "  unblock: nothing to do; a runner wakes the run when it fires"
      ]
    case "DeferredWait":
      return [
        `${Output.style.yellow("deferred")} ${Output.style.bold(blocker.nodeId)} awaited since ${
          Output.relative(blocker.since, now)
        }`,
        `  unblock: complete it (POST /v1/runs/${runId}/deferreds/${blocker.nodeId}, or DurableDeferred.complete in code)`
      ]
    case "RunnerWait":
      return blocker.status === "running"
        ? [
          `${Output.style.cyan("running")} on runner ${blocker.leaseOwner ?? "?"}${
            blocker.leaseExpiresAt !== undefined ? ` (lease until ${Output.relative(blocker.leaseExpiresAt, now)})` : ""
          }`
        ]
        : [
          `${Output.style.yellow(blocker.status)}: waiting for a runner to claim it${
            blocker.wakeAt !== undefined ? ` (due ${Output.relative(blocker.wakeAt, now)})` : ""
          }`,
          "  unblock: make sure a runner is up (`gatehouse worker --workflows MODULE`, or `gatehouse serve --workflows`)"
        ]
    case "Ended":
      return [
        `${Output.status(blocker.status)}${
          blocker.completedAt !== undefined ? ` ${Output.relative(blocker.completedAt, now)}` : ""
        }: it waits on nothing${blocker.error !== undefined ? `\n  ${blocker.error}` : ""}`
      ]
  }
}

/**
 * @since 0.1.0
 * @category commands
 */
export const why = Command.make(
  "why",
  { ...connection, json, runId: runArg },
  (options) =>
    withBackend(
      options,
      Effect.gen(function*() {
        const backend = yield* Backend
        const explanation = yield* backend.waiting(options.runId)
        if (options.json) return yield* Output.json(explanation)
        const { now, run } = explanation
        const lines = [`run ${Output.style.bold(run.runId)} (${run.workflow}) is ${Output.status(run.status)}`]
        if (explanation.blockers.length === 0) lines.push("it waits on nothing the engine can name")
        for (const blocker of explanation.blockers) lines.push("", ...describe(run.runId, blocker, now, backend.target === "server"))
        yield* Console.log(lines.join("\n"))
      })
    )
).pipe(Command.withDescription("What the run waits on and what would unblock it"))
