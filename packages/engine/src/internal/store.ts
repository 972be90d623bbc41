/**
 * TODO(issue 20 merge): moved to `internal/storage/runs.ts`; this path stays for the modules another branch
 * changes at the same time. Import the new path instead.
 *
 * @internal
 */
export * from "./storage/runs.js"
