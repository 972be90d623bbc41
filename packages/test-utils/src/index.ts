/**
 * What the Gatehouse test suites share (a private workspace package, never published).
 *
 * @since 0.0.0
 */

/**
 * @since 0.0.0
 */
export * as Database from "./Database.js"

/**
 * @since 0.0.0
 */
export * as Receiver from "./Receiver.js"
