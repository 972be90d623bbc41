/**
 * The events group: the outbox read from a cursor, as pages or as a Server-Sent Events stream that a
 * client resumes with `Last-Event-ID`.
 *
 * @since 0.1.0
 */
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Events } from "@gatehouse/engine"
import * as Schema from "effect/Schema"
import { Authentication } from "../Authentication.js"
import { BadRequest, Forbidden, StorageUnavailable } from "./Errors.js"

/**
 * @since 0.1.0
 * @category models
 */
export const ReadParams = Schema.Struct({
  after: Schema.optional(Schema.String.pipe(Schema.maxLength(100))),
  limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)))
})

/**
 * A page of events in commit order; `cursor` is where the next read starts (the last event's cursor,
 * or the one given when nothing new committed).
 *
 * @since 0.1.0
 * @category models
 */
export const EventPage = Schema.Struct({
  events: Schema.Array(Events.Event),
  cursor: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export const StreamParams = Schema.Struct({
  after: Schema.optional(Schema.String.pipe(Schema.maxLength(100)))
})

/**
 * @since 0.1.0
 * @category models
 */
export const StreamHeaders = Schema.Struct({
  "last-event-id": Schema.optional(Schema.String.pipe(Schema.maxLength(100)))
})

/**
 * @since 0.1.0
 * @category groups
 */
export class EventsApi extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("read", "/v1/events")
      .setUrlParams(ReadParams)
      .addSuccess(EventPage)
      .annotate(OpenApi.Summary, "Events after a cursor, in commit order")
  )
  .add(
    HttpApiEndpoint.get("stream", "/v1/events/stream")
      .setUrlParams(StreamParams)
      .setHeaders(StreamHeaders)
      .addSuccess(Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/event-stream" })))
      .annotate(OpenApi.Summary, "Events as Server-Sent Events; each event's id is its cursor (resume with Last-Event-ID)")
  )
  .addError(Events.InvalidCursor, { status: 400 })
  .addError(Forbidden)
  .addError(BadRequest)
  .addError(StorageUnavailable)
  .middleware(Authentication)
{}
