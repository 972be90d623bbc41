/**
 * A path parameter that may hold any character (node ids such as `ship/approval` or `review#2`). The
 * router hands the handler the decoded value; encoding percent-encodes it, since `HttpApiClient` puts
 * the encoded value in the URL as it is.
 */
import * as Schema from "effect/Schema"

export const PathSegment: Schema.Schema<string> = Schema.transform(Schema.String, Schema.String, {
  strict: true,
  decode: (segment) => segment,
  encode: (value) => encodeURIComponent(value)
})
