/**
 * The backend on a running server: `HttpApiClient` built from the server's own `GatehouseApi`, so the
 * requests, the responses and the typed errors are the server's contract, decoded with its schemas.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpApiClient from "@effect/platform/HttpApiClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { Run, Waiting } from "@gatehouse/engine"
import * as GatehouseApi from "@gatehouse/server/GatehouseApi"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import { Backend } from "../Backend.js"
import * as CliError from "../CliError.js"
import { fromTagged } from "./errors.js"

const defined = <A extends Record<string, unknown>>(record: A): A =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as A

export const make = (options: { readonly url: string; readonly token: Redacted.Redacted<string> }) =>
  Effect.gen(function*() {
    const client = yield* HttpApiClient.make(GatehouseApi.GatehouseApi, {
      baseUrl: options.url,
      transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(options.token)))
    })
    const where = `the server ${options.url}`
    const mapError = (error: unknown): CliError.CliError => {
      const tag = Predicate.hasProperty(error, "_tag") ? error._tag : undefined
      if (tag === "RequestError") {
        return CliError.make(
          "unreachable",
          `cannot reach ${where}: ${(error as { message: string }).message}`,
          "check --server (is `gatehouse serve` running there?)"
        )
      }
      if (tag === "ResponseError") {
        const status = (error as { response: { status: number } }).response.status
        return CliError.make(
          status === 401 || status === 403 ? "not-authorized" : status === 404 ? "not-found" : status >= 500 ? "unreachable" : "failure",
          `${where} answered ${status}: ${(error as { message: string }).message}`
        )
      }
      if (tag === "ParseError") {
        return CliError.make("failure", `${where} answered something this CLI cannot read: ${String(error)}`, "is the server the same version as the CLI?")
      }
      return fromTagged(error, where)
    }
    const call = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, CliError.CliError, R> =>
      Effect.mapError(effect, mapError)

    const waiting = (runId: string) => call(client.runs.waiting({ path: { runId } }))

    const backend: Backend["Type"] = {
      target: "server",
      listApprovals: (query) => call(client.approvals.inbox({ urlParams: defined({ ...query }) })),
      getApproval: (path) => call(client.approvals.get({ path })),
      pendingApprovals: (runId) =>
        waiting(runId).pipe(
          Effect.map((explanation) =>
            explanation.blockers.filter((blocker): blocker is Waiting.ApprovalWait => blocker._tag === "ApprovalWait")
          ),
          // A reviewer who is not an operator may not read the run; the approvals of it in their inbox are
          // the ones they could mean.
          Effect.catchIf(
            (error) => error.kind === "not-authorized",
            () =>
              call(client.approvals.inbox({ urlParams: { limit: 500 } })).pipe(
                Effect.map((page) =>
                  page.approvals.filter((approval) => approval.runId === runId).map(Waiting.approvalWait)
                )
              )
          )
        ),
      decide: ({ as, note, payload, requestHash, ...path }) =>
        as !== undefined
          ? Effect.fail(
            CliError.make(
              "invalid-input",
              "--as and --role are refused against a server: it records the decision for the token's principal",
              "drop --as and --role (use the token of the reviewer who decides)"
            )
          )
          : call(
            client.approvals.decide({
              path: { runId: path.runId, nodeId: path.nodeId },
              payload: defined({ verdict: path.verdict, note, payload }),
              headers: requestHash === undefined ? {} : { "if-match": `"${requestHash}"` }
            })
          ),
      listRuns: (query) => call(client.runs.list({ urlParams: defined({ ...query }) })),
      inspect: (runId) => call(client.runs.timeline({ path: { runId } })),
      start: ({ idempotencyKey, labels, payload, workflow }) =>
        call(
          client.runs.start({
            path: { name: workflow },
            payload: defined({ payload, labels }),
            headers: defined({ "idempotency-key": idempotencyKey })
          }).pipe(Effect.map((started) => ({ ...started, runId: Run.RunId.make(started.runId) })))
        ),
      cancel: (runId, reason) => call(client.runs.cancel({ path: { runId }, payload: defined({ reason }) })),
      resume: (runId, reason) => call(client.runs.resume({ path: { runId }, payload: { reason } })),
      fork: ({ fromNode, payload, reason, runId }) =>
        call(client.runs.fork({ path: { runId }, payload: defined({ reason, fromNode, payload }) })),
      waiting,
      readEvents: ({ after, limit }) =>
        call(client.events.read({ urlParams: defined({ after, limit }) })).pipe(
          Effect.map((page) => ({ events: page.events, cursor: page.cursor ?? after }))
        ),
      auditVerify: call(client.audit.verify()),
      auditForRun: (runId) => call(Effect.map(client.audit.forRun({ path: { runId } }), (audit) => audit.entries)),
      activePolicy: call(Effect.map(client.policy.show(), (shown) => Option.fromNullable(shown.policy))),
      activatePolicy: (document, as) =>
        as !== undefined
          ? Effect.fail(CliError.make("invalid-input", "--as is refused against a server: the token says who activates"))
          : call(client.policy.activate({ payload: { document } })),
      explainPolicy: (action) =>
        call(Effect.map(client.policy.explain({ payload: { action } }), (explained) => Option.fromNullable(explained.evaluation))),
      backtestPolicy: (document, days) => call(client.policy.backtest({ payload: defined({ document, days }) }))
    }
    return backend
  }).pipe(Effect.provide(FetchHttpClient.layer))

/** The backend on the server at `url`. */
export const layer = (options: { readonly url: string; readonly token: Redacted.Redacted<string> }): Layer.Layer<Backend> =>
  Layer.effect(Backend, make(options))
