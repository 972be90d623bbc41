/**
 * How a test or a benchmark starts a child process on the repository's TypeScript: `node` with the tsx
 * loader and the "@gatehouse/source" export condition, so workspace packages resolve to their sources
 * rather than to a dist/ that may not be built.
 */
export const tsxArgs: ReadonlyArray<string> = ["--conditions=@gatehouse/source", "--import", "tsx"]
