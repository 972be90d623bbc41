/**
 * The reviewer's web inbox, served by the same server and process as the HTTP API: server-rendered pages
 * under `/inbox` with a little progressive JavaScript (the list refreshes live over Server-Sent Events).
 * Reviewers sign in with the API's identities (an API token or an OIDC bearer token); the session is a
 * signed, HttpOnly, SameSite cookie and every form carries a CSRF token. Every decision goes through
 * `Approvals.decide` (action links through `ActionLinks.redeem`, which uses it).
 *
 * Pages: `/inbox` (pending, decided by me, all I can see; filters, cursor pages, bulk decisions),
 * `/inbox/{runId}/{nodeId}` (an approval, its decision form), `/inbox/runs/{runId}` (a run's timeline and
 * audit), `/inbox/links/{token}` (an action link's confirm page; only its POST decides), `/inbox/sign-in`.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { ActionLinks, Approvals, Audit, Events, Workflows } from "@gatehouse/engine"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type { Authentication } from "./Authentication.js"
import * as Routes from "./internal/inbox/routes.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The key sessions and CSRF tokens are signed with. Every server process behind one address must share
   * it (several processes on one PostgreSQL database); without one, each process makes a random key and
   * its sessions end when it stops.
   */
  readonly sessionKey?: Redacted.Redacted<string> | undefined
  /** How long a session lasts after sign-in (default 8 hours). */
  readonly sessionTtlMillis?: number | undefined
  /**
   * The address people reach the server at (`https://gatehouse.example.com`), for action links and for
   * `Secure` cookies when it is `https`.
   */
  readonly publicUrl?: string | undefined
}

/**
 * The URL of an action link's confirm page, from the server's public address and a token minted with
 * `ActionLinks.mint`. Opening it (GET) only shows the request; the confirm button decides.
 *
 * @example
 * ```ts
 * import { ActionLinks } from "@gatehouse/engine"
 * import { Inbox } from "@gatehouse/server"
 * import { Effect } from "effect"
 *
 * const link = Effect.gen(function*() {
 *   const links = yield* ActionLinks.ActionLinks
 *   const { token } = yield* links.mint({ runId: "refund-1", nodeId: "refund-decision", reviewer: "grace", verdict: "approve" })
 *   return Inbox.actionLinkUrl("https://gatehouse.example.com", token)
 * })
 * ```
 *
 * @since 0.1.0
 * @category links
 */
export const actionLinkUrl = (publicUrl: string, token: string): string =>
  `${publicUrl.replace(/\/+$/, "")}/inbox/links/${encodeURIComponent(token)}`

/**
 * The inbox's routes on the HTTP API's router (the server's `HttpApiBuilder.serve`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  never,
  never,
  | Approvals.Approvals
  | ActionLinks.ActionLinks
  | Workflows.Workflows
  | Events.Events
  | Audit.Audit
  | Authentication
> =>
  HttpApiBuilder.Router.use((router) => Routes.register(router, options))

/**
 * `layer` with the session key from `GATEHOUSE_SESSION_KEY` and the public address from
 * `GATEHOUSE_PUBLIC_URL`, both optional.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "sessionKey" | "publicUrl"> = {}
): Layer.Layer<
  never,
  ConfigError,
  | Approvals.Approvals
  | ActionLinks.ActionLinks
  | Workflows.Workflows
  | Events.Events
  | Audit.Audit
  | Authentication
> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.all({
        sessionKey: Config.option(Config.redacted("GATEHOUSE_SESSION_KEY")),
        publicUrl: Config.option(Config.url("GATEHOUSE_PUBLIC_URL"))
      }),
      (config) =>
        layer({
          ...options,
          sessionKey: Option.getOrUndefined(config.sessionKey),
          publicUrl: Option.getOrUndefined(Option.map(config.publicUrl, (url) => url.toString()))
        })
    )
  )
