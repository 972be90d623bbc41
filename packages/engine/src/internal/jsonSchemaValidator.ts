import { Ajv, type ValidateFunction } from "ajv"

/**
 * Validation against the JSON Schemas stored with approvals and deferreds, so that a process without the
 * workflow's code checks a payload the way the code would. One compiled validator per distinct schema.
 *
 * @internal
 */
export const make = (): {
  readonly validatorFor: (schema: unknown) => ValidateFunction
  readonly errorsText: (errors: ValidateFunction["errors"], options?: { readonly dataVar?: string }) => string
} => {
  const ajv = new Ajv({ allErrors: true, strict: false, addUsedSchema: false })
  const validators = new Map<string, ValidateFunction>()
  return {
    validatorFor: (schema) => {
      const key = JSON.stringify(schema)
      let validate = validators.get(key)
      if (validate === undefined) {
        validate = ajv.compile(schema as object)
        validators.set(key, validate)
      }
      return validate
    },
    errorsText: (errors, options) => ajv.errorsText(errors, options)
  }
}
