/**
 * Handlers of the events group: pages of the outbox, and the outbox as Server-Sent Events.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type { ApiGroup } from "@effect/platform/HttpApiGroup"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { Events } from "@gatehouse/engine"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import { type Authentication, CurrentPrincipal } from "../Authentication.js"
import { GatehouseApi } from "../GatehouseApi.js"
import { requireOperator } from "../internal/access.js"
import { defined, storage } from "../internal/http.js"

/**
 * How often the event stream looks for new events, and how often it sends a keep-alive comment.
 *
 * @since 0.1.0
 * @category references
 */
export class StreamSettings extends Context.Reference<StreamSettings>()("@gatehouse/server/EventsLive/StreamSettings", {
  defaultValue: (): { readonly pollInterval: Duration.DurationInput; readonly keepAlive: Duration.DurationInput } => ({
    pollInterval: "250 millis",
    keepAlive: "15 seconds"
  })
}) {}

const toSse = (event: Events.Event): string =>
  `id: ${event.cursor}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`

/**
 * @since 0.1.0
 * @category layers
 */
export const EventsLive: Layer.Layer<ApiGroup<"gatehouse", "events">, never, Events.Events | Authentication> = HttpApiBuilder.group(
  GatehouseApi,
  "events",
  (handlers) =>
    Effect.gen(function*() {
      const events = yield* Events.Events
      return handlers
        .handle("read", ({ urlParams }) =>
          Effect.gen(function*() {
            yield* requireOperator(yield* CurrentPrincipal)
            const page = yield* events.read(defined(urlParams))
            const cursor = page.length > 0 ? page[page.length - 1].cursor : urlParams.after
            return { events: page, ...defined({ cursor }) }
          }).pipe(storage))
        .handle("stream", ({ headers, urlParams }) =>
          Effect.gen(function*() {
            yield* requireOperator(yield* CurrentPrincipal)
            const after = headers["last-event-id"] ?? urlParams.after
            // A bad cursor is a 400 before the stream starts, not an error in the middle of it.
            yield* events.read(defined({ after, limit: 1 }))
            const settings = yield* StreamSettings
            const body = events.stream(defined({ after, pollInterval: settings.pollInterval })).pipe(
              Stream.map(toSse),
              Stream.merge(
                Stream.repeatEffectWithSchedule(Effect.succeed(": keep-alive\n\n"), Schedule.spaced(settings.keepAlive)),
                { haltStrategy: "left" }
              ),
              Stream.catchAll((error) =>
                Stream.fromEffect(Effect.logWarning("event stream ended", error)).pipe(Stream.drain)
              ),
              Stream.encodeText
            )
            return HttpServerResponse.stream(Stream.concat(Stream.make(new TextEncoder().encode(": stream\n\n")), body), {
              contentType: "text/event-stream",
              headers: { "cache-control": "no-cache", "x-accel-buffering": "no" }
            })
          }).pipe(storage))
    })
)
