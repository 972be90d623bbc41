/**
 * @since 0.1.0
 */
export * as ApprovalsApi from "./api/ApprovalsApi.js"

/**
 * @since 0.1.0
 */
export * as AuditApi from "./api/AuditApi.js"

/**
 * @since 0.1.0
 */
export * as ApiErrors from "./api/Errors.js"

/**
 * @since 0.1.0
 */
export * as EventsApi from "./api/EventsApi.js"

/**
 * @since 0.1.0
 */
export * as HealthApi from "./api/HealthApi.js"

/**
 * @since 0.1.0
 */
export * as MetricsApi from "./api/MetricsApi.js"

/**
 * @since 0.1.0
 */
export * as PolicyApi from "./api/PolicyApi.js"

/**
 * @since 0.1.0
 */
export * as RunsApi from "./api/RunsApi.js"

/**
 * @since 0.1.0
 */
export * as DeferredsApi from "./api/DeferredsApi.js"

/**
 * @since 0.1.0
 */
export * as WebhooksApi from "./api/WebhooksApi.js"

/**
 * @since 0.1.0
 */
export * as Authentication from "./Authentication.js"

/**
 * @since 0.1.0
 */
export * as AuthenticationLive from "./http/AuthenticationLive.js"

/**
 * @since 0.1.0
 */
export * as GatehouseApi from "./GatehouseApi.js"

/**
 * @since 0.1.0
 */
export * as Inbox from "./Inbox.js"

/**
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.js"

/**
 * @since 0.1.0
 */
export * as Server from "./Server.js"

/**
 * @since 0.1.0
 */
export * as Tracing from "./Tracing.js"
