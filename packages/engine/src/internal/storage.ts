/**
 * The entry point of `internal/storage/`: the `Storage` service (`storage/storage.ts`, the written
 * interface) and its one implementation on `@effect/sql` (`storage/sqlStorage.ts`: `layer`, `make`).
 *
 * @internal
 */
export * from "./storage/sqlStorage.js"
export * from "./storage/storage.js"
