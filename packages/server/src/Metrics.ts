/**
 * Metrics: HTTP request counts and latencies as Effect `Metric`s, and `/metrics`, which exposes every
 * Effect metric of the process (the engine's and these) in the Prometheus text format through
 * `@effect/opentelemetry` and the OpenTelemetry Prometheus exporter.
 *
 * @since 0.1.0
 */
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as OtelResource from "@effect/opentelemetry/Resource"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as Predicate from "effect/Predicate"
import { GatehouseApi } from "./GatehouseApi.js"

/**
 * `gatehouse_http_requests_total`, tagged `method`, `route` (the endpoint's path template) and `status`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const httpRequests: Metric.Metric.Counter<number> = Metric.counter("gatehouse_http_requests_total", {
  description: "HTTP requests served",
  incremental: true
})

/**
 * `gatehouse_http_request_duration_seconds`, tagged `method` and `route`.
 *
 * @since 0.1.0
 * @category metrics
 */
export const httpDuration: Metric.Metric.Histogram<number> = Metric.histogram(
  "gatehouse_http_request_duration_seconds",
  MetricBoundaries.exponential({ start: 0.001, factor: 2, count: 14 }),
  "HTTP request latency"
)

const routes: ReadonlyArray<readonly [RegExp, string]> = Object.values(GatehouseApi.groups).flatMap((group) =>
  Object.values(group.endpoints).map((endpoint) =>
    [
      new RegExp(`^${endpoint.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:(\w+)\??/g, "[^/]+")}$`),
      endpoint.path.replace(/:(\w+)\??/g, "{$1}")
    ] as const
  )
).concat([[/^\/openapi\.json$/, "/openapi.json"], [/^\/docs$/, "/docs"]])

/**
 * The path template of a request path (`/v1/runs/{runId}`), or `other`: a bounded set of label values.
 *
 * @since 0.1.0
 * @category metrics
 */
export const routeOf = (path: string): string => {
  const pathname = path.split("?")[0]
  for (const [pattern, route] of routes) if (pattern.test(pathname)) return route
  return "other"
}

/**
 * Counts and times every request (as the server middleware, so the status is the one sent).
 *
 * @since 0.1.0
 * @category middleware
 */
export const middleware = <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const start = yield* Clock.currentTimeMillis
    const route = routeOf(request.url)
    return yield* app.pipe(
      Effect.onExit((exit) =>
        Effect.gen(function*() {
          const status = Exit.isSuccess(exit)
            ? exit.value.status
            : Predicate.isTagged(Cause.squash(exit.cause), "RouteNotFound")
            ? 404
            : Cause.isInterruptedOnly(exit.cause)
            ? 499
            : 500
          const elapsed = ((yield* Clock.currentTimeMillis) - start) / 1000
          yield* Metric.increment(
            Metric.tagged(Metric.tagged(Metric.tagged(httpRequests, "method", request.method), "route", route), "status", String(status))
          )
          yield* Metric.update(Metric.tagged(Metric.tagged(httpDuration, "method", request.method), "route", route), elapsed)
        })
      )
    )
  })

/**
 * The Prometheus text of every Effect metric in the process.
 *
 * @since 0.1.0
 * @category tags
 */
export class Prometheus extends Context.Tag("@gatehouse/server/Metrics/Prometheus")<Prometheus, {
  readonly scrape: Effect.Effect<string>
}>() {}

/**
 * @since 0.1.0
 * @category layers
 */
export const layerPrometheus: Layer.Layer<Prometheus> = Layer.scoped(
  Prometheus,
  Effect.gen(function*() {
    const exporter = new PrometheusExporter({ preventServerStart: true })
    const producer = yield* OtelMetrics.makeProducer
    yield* OtelMetrics.registerProducer(producer, () => exporter)
    const serializer = new PrometheusSerializer(undefined, false, undefined, false, true)
    return Prometheus.of({
      scrape: Effect.promise(() => exporter.collect()).pipe(
        Effect.tap(({ errors }) => errors.length > 0 ? Effect.logWarning("metric collection errors", errors) : Effect.void),
        Effect.map(({ resourceMetrics }) => serializer.serialize(resourceMetrics))
      )
    })
  })
).pipe(Layer.provide(OtelResource.layer({ serviceName: "gatehouse", serviceVersion: "0.1.0" })))
