/**
 * The one HTML escaping helper of the inbox: `html` is a tagged template whose interpolations are escaped
 * unless they are `Html` themselves (built by `html` or `raw`). Arrays are joined, `undefined`, `null` and
 * `false` render as nothing. Every page is built with it, so no value reaches a page unescaped.
 */

/** Markup that is already safe to embed. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

const replacements: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  "\"": "&quot;",
  "'": "&#39;",
  "`": "&#96;"
}

/** Escapes text for element content and quoted attribute values. */
export const escape = (text: string): string => text.replace(/[&<>"'`]/g, (char) => replacements[char])

export type Fragment = Html | string | number | boolean | null | undefined | ReadonlyArray<Fragment>

const render = (fragment: Fragment): string => {
  if (fragment === undefined || fragment === null || fragment === false || fragment === true) return ""
  if (fragment instanceof Html) return fragment.value
  if (Array.isArray(fragment)) return fragment.map(render).join("")
  return escape(String(fragment))
}

export const html = (strings: TemplateStringsArray, ...values: ReadonlyArray<Fragment>): Html => {
  let out = strings[0]
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]
  return new Html(out)
}

/** Markup written in this package (never user data). */
export const raw = (markup: string): Html => new Html(markup)
