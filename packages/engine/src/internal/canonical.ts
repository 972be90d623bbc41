import { createHash } from "node:crypto"

/** JSON with object keys sorted at every level, so equal values always hash the same. @internal */
export const canonicalJson = (value: unknown): string => JSON.stringify(sortKeys(value))

const sortKeys = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value !== null && typeof value === "object") {
    const sorted: Record<string, unknown> = {}
    for (const key of Object.keys(value).sort()) {
      const item = (value as Record<string, unknown>)[key]
      if (item !== undefined) sorted[key] = sortKeys(item)
    }
    return sorted
  }
  return value
}

/** @internal */
export const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex")
