/**
 * The inbox's routes, registered on the API's router by `Inbox.layer`: its assets, then one module per part
 * (sign-in, the list, action links, a run, an approval), each failing only with `InboxError`, which
 * `errors.ts` maps to its page.
 */
import type * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import type { Options } from "../../Inbox.js"
import * as ApprovalRoutes from "./approvalRoutes.js"
import * as Assets from "./assets.js"
import * as Env from "./env.js"
import * as LinkRoutes from "./linkRoutes.js"
import * as ListRoutes from "./listRoutes.js"
import * as RunRoutes from "./runRoutes.js"
import * as SignInRoutes from "./signInRoutes.js"

const asset = (body: string, contentType: string) =>
  Effect.succeed(HttpServerResponse.text(body, {
    contentType,
    headers: { "cache-control": "public, max-age=300", "x-content-type-options": "nosniff" }
  }))

/** Registers every route of the inbox on `router`, with the engine's services of the context. */
export const register = (router: HttpApiBuilder.Router["Type"], options: Options) =>
  Effect.gen(function*() {
    const env = yield* Env.make(options)
    yield* router.get("/inbox/assets/inbox.js", asset(Assets.script, "text/javascript; charset=utf-8"))
    yield* router.get("/inbox/assets/inbox.css", asset(Assets.stylesheet, "text/css; charset=utf-8"))
    yield* SignInRoutes.register(router, env)
    yield* ListRoutes.register(router, env)
    yield* LinkRoutes.register(router, env)
    yield* RunRoutes.register(router, env)
    // Last: `/inbox/:runId/:nodeId` fits the fixed paths above too (the router prefers those).
    yield* ApprovalRoutes.register(router, env)
  })
