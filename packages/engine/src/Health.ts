/**
 * Whether the engine's database answers: the readiness check of a process that serves the engine (the
 * HTTP server's `/readyz`), without handing it the SQL client.
 *
 * @example
 * ```ts
 * import { Health } from "@gatehouse/engine"
 * import { Effect } from "effect"
 *
 * const ready = Effect.flatMap(Health.Health, (health) => health.ping)
 * ```
 *
 * @since 0.2.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Storage from "./internal/storage.js"
import { mapStorage } from "./internal/storageError.js"
import type { StorageError } from "./StorageError.js"

/**
 * @since 0.2.0
 * @category services
 */
export class Health extends Context.Tag("@gatehouse/engine/Health")<Health, {
  /** One round trip to the database; fails with `StorageError` when it is unreachable. */
  readonly ping: Effect.Effect<void, StorageError>
}>() {}

/**
 * @since 0.2.0
 * @category constructors
 */
export const make: Effect.Effect<Health["Type"], never, Storage.Storage> = Effect.map(
  Storage.Storage,
  (storage) => Health.of({ ping: mapStorage("Health.ping")(storage.ping) })
)

/**
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<Health, never, SqlClient.SqlClient> = Layer.effect(Health, make).pipe(
  Layer.provide(Storage.layer)
)
