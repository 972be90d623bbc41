import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

/**
 * The engine's spans: no exporter here; whatever `Tracer` the application provides (the server's
 * `Tracing.layer`) receives them. No stack trace is captured: a step's span is on the hot path.
 *
 * @internal
 */
export const span = (name: string, attributes: Record<string, unknown>, options?: {
  readonly links?: ReadonlyArray<Tracer.SpanLink> | undefined
  readonly root?: boolean | undefined
}) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, Exclude<R, Tracer.ParentSpan>> =>
  Effect.withSpan(self, name, { attributes, captureStackTrace: false, ...options })

/**
 * The current span as stored with a wake (`traceId:spanId`), so the execution it resumes links to it.
 *
 * @internal
 */
export const currentLink: Effect.Effect<string | undefined> = Effect.map(
  Effect.option(Effect.currentSpan),
  Option.match({ onNone: () => undefined, onSome: (span) => `${span.traceId}:${span.spanId}` })
)

/**
 * The span link of a stored `traceId:spanId`, if any.
 *
 * @internal
 */
export const linksOf = (link: string | undefined): ReadonlyArray<Tracer.SpanLink> => {
  const [traceId, spanId] = link?.split(":") ?? []
  return traceId && spanId
    ? [{
      _tag: "SpanLink",
      span: Tracer.externalSpan({ traceId, spanId, sampled: true }),
      attributes: { "gatehouse.link": "woken-by" }
    }]
    : []
}
