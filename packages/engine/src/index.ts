/**
 * @since 0.1.0
 */
export * as ActionLinks from "./ActionLinks.js"
export * as Approval from "./Approval.js"

/**
 * @since 0.1.0
 */
export * as Approvals from "./Approvals.js"

/**
 * @since 0.1.0
 */
export * as Audit from "./Audit.js"

/**
 * @since 0.1.0
 */
export * as Directory from "./Directory.js"

/**
 * @since 0.1.0
 */
export * as DurableClock from "./DurableClock.js"

/**
 * @since 0.1.0
 */
export * as DurableDeferred from "./DurableDeferred.js"

/**
 * @since 0.1.0
 */
export * as Events from "./Events.js"

/**
 * @since 0.1.0
 */
export * as Gatehouse from "./Gatehouse.js"

/**
 * @since 0.1.0
 */
export * as GatehouseTest from "./GatehouseTest.js"

/**
 * @since 0.2.0
 */
export * as Health from "./Health.js"

/**
 * @since 0.1.0
 */
export * as Migrations from "./Migrations.js"

/**
 * @since 0.1.0
 */
export * as Policies from "./Policies.js"

/**
 * @since 0.1.0
 */
export * as Policy from "./Policy.js"

/**
 * @since 0.1.0
 */
export * as Run from "./Run.js"

/**
 * @since 0.1.0
 */
export * as Runner from "./Runner.js"

/**
 * @since 0.1.0
 */
export * as Step from "./Step.js"

/**
 * @since 0.1.0
 */
export * as SlackMessage from "./SlackMessage.js"

/**
 * @since 0.1.0
 */
export * as StorageError from "./StorageError.js"

/**
 * @since 0.1.0
 */
export * as Waiting from "./Waiting.js"

/**
 * @since 0.1.0
 */
export * as WebhookDispatcher from "./WebhookDispatcher.js"

/**
 * @since 0.1.0
 */
export * as Webhooks from "./Webhooks.js"

/**
 * @since 0.1.0
 */
export * as Workflow from "./Workflow.js"

/**
 * @since 0.1.0
 */
export * as WorkflowRegistry from "./WorkflowRegistry.js"

/**
 * @since 0.1.0
 */
export * as WorkflowInstance from "./WorkflowInstance.js"

/**
 * @since 0.1.0
 */
export * as Workflows from "./Workflows.js"
