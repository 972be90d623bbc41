/**
 * OpenAPI component names must match `^[a-zA-Z0-9._-]+$`, but the engine's Schemas are identified the
 * Effect way (`@gatehouse/engine/Approvals/ApprovalPage`). The generated document is rewritten so every
 * component is named by its module and model (`Approvals.ApprovalPage`) and every reference follows, so
 * the document validates as OpenAPI 3.1.
 *
 * @internal
 */

const componentName = (identifier: string): string =>
  identifier.replace(/^@gatehouse\/engine\//, "").replace(/[^A-Za-z0-9._-]+/g, ".")

// A `$ref` is a JSON pointer: "/" inside a name is written "~1", "~" is "~0".
const unescapePointer = (segment: string): string => segment.replace(/~1/g, "/").replace(/~0/g, "~")

/** @internal */
export const portableComponentNames = (spec: Record<string, any>): Record<string, any> => {
  const schemas: Record<string, unknown> | undefined = spec.components?.schemas
  if (schemas === undefined) return spec
  const renamed = Object.fromEntries(Object.entries(schemas).map(([name, schema]) => [componentName(name), schema]))
  // Effect marks the schemas of `unknown`, `object` and `{}` with an `$id` ("/schemas/unknown") wherever
  // they appear; repeated in one document, those ids collide. They carry nothing: dropped.
  const text = JSON.stringify(
    { ...spec, components: { ...spec.components, schemas: renamed } },
    (key, value) => key === "$id" && typeof value === "string" && value.startsWith("/schemas/") ? undefined : value
  )
  return JSON.parse(
    text.replace(
      /"#\/components\/schemas\/([^"]+)"/g,
      (_, name: string) => JSON.stringify(`#/components/schemas/${componentName(unescapePointer(name))}`)
    )
  )
}
