/**
 * OpenTelemetry tracing: every request is a server span (from the platform's HTTP tracer, with method,
 * route, status and W3C trace-context propagation), and the engine's own spans nest under it
 * (`gatehouse.decide`); the runner's executions are traces of their own (`gatehouse.run`, with
 * `gatehouse.step` and `gatehouse.approval.request` under it), linked to the decision that resumed them. Spans go to the span processors given (an OTLP exporter in production, an in-memory one
 * in tests).
 *
 * @example
 * ```ts
 * import { Server, Tracing } from "@gatehouse/server"
 * import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
 * import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
 * import { Layer } from "effect"
 *
 * const ServerLive = Server.layer({ port: 8080 }).pipe(
 *   Layer.provide(Tracing.layer({ spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter()) }))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import type { Resource } from "@effect/opentelemetry/Resource"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import type * as Layer from "effect/Layer"

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: {
  readonly spanProcessor: SpanProcessor | ReadonlyArray<SpanProcessor>
  readonly serviceName?: string | undefined
}): Layer.Layer<Resource> =>
  NodeSdk.layer(() => ({
    resource: { serviceName: options.serviceName ?? "gatehouse", serviceVersion: "0.1.0" },
    spanProcessor: options.spanProcessor
  }))
