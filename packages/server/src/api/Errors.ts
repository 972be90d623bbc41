/**
 * Errors of the HTTP surface itself (the engine's own errors are added to the endpoints that meet them,
 * with their status codes).
 *
 * @since 0.1.0
 */
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as Schema from "effect/Schema"

/**
 * The principal is authenticated but its roles do not allow this request.
 *
 * @since 0.1.0
 * @category errors
 */
export class Forbidden extends Schema.TaggedError<Forbidden>("@gatehouse/server/Forbidden")(
  "Forbidden",
  { principal: Schema.String, reason: Schema.String },
  HttpApiSchema.annotations({ status: 403 })
) {
  override get message(): string {
    return `${this.principal} may not do this: ${this.reason}`
  }
}

/**
 * The database could not serve the request; nothing was changed that the caller must know of, and the
 * request may be retried.
 *
 * @since 0.1.0
 * @category errors
 */
export class StorageUnavailable extends Schema.TaggedError<StorageUnavailable>("@gatehouse/server/StorageUnavailable")(
  "StorageUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

/**
 * The request itself is not acceptable (a header, a body or a parameter); it changed nothing.
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequest extends Schema.TaggedError<BadRequest>("@gatehouse/server/BadRequest")(
  "BadRequest",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/**
 * The request body is over the server's size limit.
 *
 * @since 0.1.0
 * @category errors
 */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>("@gatehouse/server/PayloadTooLarge")(
  "PayloadTooLarge",
  { limit: Schema.Number },
  HttpApiSchema.annotations({ status: 413 })
) {
  override get message(): string {
    return `The request body is over ${this.limit} bytes`
  }
}
