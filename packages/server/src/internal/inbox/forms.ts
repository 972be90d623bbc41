/**
 * Decision payload fields generated from the approval's stored JSON Schema (what `JSONSchema.make` writes
 * for the node's `decision` schema): an object's properties become inputs labelled by their titles, numbers
 * with their bounds, enums as selects, booleans as checkboxes. A schema this cannot map gets one JSON field.
 * Posted values are turned back into a payload; the engine validates it against the same schema.
 */
import { type Html, html } from "./html.js"

type JsonSchema = {
  readonly type?: unknown
  readonly title?: unknown
  readonly description?: unknown
  readonly properties?: Record<string, JsonSchema>
  readonly required?: ReadonlyArray<string>
  readonly minimum?: unknown
  readonly maximum?: unknown
  readonly exclusiveMinimum?: unknown
  readonly exclusiveMaximum?: unknown
  readonly enum?: ReadonlyArray<unknown>
  readonly $ref?: unknown
  readonly $defs?: Record<string, JsonSchema>
  readonly definitions?: Record<string, JsonSchema>
}

export type Field =
  | {
    readonly kind: "number" | "integer" | "string" | "boolean" | "enum"
    readonly name: string
    readonly label: string
    readonly required: boolean
    readonly description?: string | undefined
    readonly min?: number | undefined
    readonly max?: number | undefined
    readonly options?: ReadonlyArray<string> | undefined
  }
  | { readonly kind: "json"; readonly name: "payload"; readonly label: string; readonly required: false }

const humanize = (key: string): string => {
  const words = key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_-]+/g, " ").trim().toLowerCase()
  return words.charAt(0).toUpperCase() + words.slice(1)
}

const resolve = (root: JsonSchema, schema: JsonSchema): JsonSchema => {
  if (typeof schema.$ref !== "string") return schema
  const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(schema.$ref)
  if (match === null) return schema
  const defs = match[1] === "$defs" ? root.$defs : root.definitions
  return defs?.[decodeURIComponent(match[2])] ?? schema
}

const num = (u: unknown): number | undefined => typeof u === "number" && Number.isFinite(u) ? u : undefined

/** The fields of a decision schema; none when the approval takes no payload. */
export const fieldsOf = (decisionSchema: unknown): ReadonlyArray<Field> => {
  if (decisionSchema === undefined || decisionSchema === null || typeof decisionSchema !== "object") return []
  const root = decisionSchema as JsonSchema
  const schema = resolve(root, root)
  const fallback: ReadonlyArray<Field> = [{ kind: "json", name: "payload", label: "Payload (JSON)", required: false }]
  if (schema.type !== "object" || schema.properties === undefined) return fallback
  const fields: Array<Field> = []
  for (const [key, raw] of Object.entries(schema.properties)) {
    const property = resolve(root, raw)
    // A referenced definition's title names its type ("int"), not this field.
    const label = typeof raw.title === "string" ? raw.title : humanize(key)
    const common = {
      name: key,
      label,
      required: schema.required?.includes(key) ?? false,
      description: typeof property.description === "string" ? property.description : undefined
    }
    if (Array.isArray(property.enum) && property.enum.every((value) => typeof value === "string")) {
      fields.push({ ...common, kind: "enum", options: property.enum as ReadonlyArray<string> })
    } else if (property.type === "number" || property.type === "integer") {
      fields.push({
        ...common,
        kind: property.type,
        min: num(property.minimum) ?? num(property.exclusiveMinimum),
        max: num(property.maximum) ?? num(property.exclusiveMaximum)
      })
    } else if (property.type === "string" || property.type === "boolean") {
      fields.push({ ...common, kind: property.type })
    } else {
      return fallback
    }
  }
  return fields
}

const inputName = (field: Field) => field.kind === "json" ? "payload" : `payload.${field.name}`

/** The inputs, each with a `<label>` naming it by its title. */
export const renderFields = (fields: ReadonlyArray<Field>, values: Readonly<Record<string, string>> = {}): Html =>
  html`${
    fields.map((field, i) => {
      const id = `field-${i}`
      const name = inputName(field)
      const value = values[name] ?? ""
      const hint = field.kind !== "json" && field.description !== undefined
        ? html`<small id="${id}-hint">${field.description}</small>`
        : undefined
      const described = hint !== undefined ? html` aria-describedby="${id}-hint"` : html``
      switch (field.kind) {
        case "number":
        case "integer":
          return html`<p class="field"><label for="${id}">${field.label}</label>
<input id="${id}" name="${name}" type="number" step="${field.kind === "integer" ? "1" : "any"}"${
            field.min !== undefined ? html` min="${field.min}"` : html``
          }${field.max !== undefined ? html` max="${field.max}"` : html``}${
            field.required ? html` required` : html``
          } value="${value}"${described}>${hint}</p>`
        case "boolean":
          return html`<p class="field"><input id="${id}" name="${name}" type="checkbox"${
            value === "on" ? html` checked` : html``
          }${described}> <label for="${id}">${field.label}</label>${hint}</p>`
        case "enum":
          return html`<p class="field"><label for="${id}">${field.label}</label>
<select id="${id}" name="${name}"${field.required ? html` required` : html``}${described}>${
            field.required ? html`` : html`<option value=""></option>`
          }${
            (field.options ?? []).map((option) =>
              html`<option${option === value ? html` selected` : html``}>${option}</option>`
            )
          }</select>${hint}</p>`
        case "string":
          return html`<p class="field"><label for="${id}">${field.label}</label>
<input id="${id}" name="${name}" type="text"${field.required ? html` required` : html``} value="${value}"${described}>${hint}</p>`
        case "json":
          return html`<p class="field"><label for="${id}">${field.label}</label>
<textarea id="${id}" name="${name}" rows="4">${value}</textarea></p>`
      }
    })
  }`

/**
 * The payload posted with the form, or undefined when none of its fields were filled. A number field that
 * does not parse is passed on as text, so the engine's validation names the field.
 */
export const payloadOf = (
  fields: ReadonlyArray<Field>,
  form: URLSearchParams
): { readonly payload: unknown } | { readonly error: string } | undefined => {
  if (fields.length === 0) return undefined
  if (fields[0].kind === "json") {
    const text = form.get("payload")?.trim() ?? ""
    if (text === "") return undefined
    try {
      return { payload: JSON.parse(text) }
    } catch {
      return { error: "Payload (JSON) is not valid JSON" }
    }
  }
  const payload: Record<string, unknown> = {}
  let filled = false
  for (const field of fields) {
    if (field.kind === "json") continue
    const value = form.get(`payload.${field.name}`)
    if (field.kind === "boolean") {
      payload[field.name] = value === "on"
      continue
    }
    if (value === null || value.trim() === "") continue
    filled = true
    if (field.kind === "number" || field.kind === "integer") {
      const parsed = Number(value)
      payload[field.name] = value.trim() !== "" && Number.isFinite(parsed) ? parsed : value
    } else {
      payload[field.name] = value
    }
  }
  return filled ? { payload } : undefined
}

/** The raw posted values of the fields, to fill the form again after a refusal. */
export const valuesOf = (form: URLSearchParams): Record<string, string> => {
  const values: Record<string, string> = {}
  for (const [key, value] of form) if (key === "payload" || key.startsWith("payload.")) values[key] = value
  return values
}
