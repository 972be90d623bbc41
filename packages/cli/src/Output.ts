/**
 * What the commands print, through the `Console` service: aligned tables, relative times, colour only
 * when stdout is a terminal (and `NO_COLOR` is unset), and JSON for `--json`.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

const colourEnabled = (): boolean =>
  process.stdout.isTTY === true && process.env.NO_COLOR === undefined && process.env.TERM !== "dumb"

const ansi = (code: string) => (text: string): string => colourEnabled() ? `\u001b[${code}m${text}\u001b[0m` : text

/**
 * @since 0.1.0
 * @category style
 */
export const style = {
  bold: ansi("1"),
  dim: ansi("2"),
  red: ansi("31"),
  green: ansi("32"),
  yellow: ansi("33"),
  cyan: ansi("36")
} as const

const visibleLength = (text: string): number => text.replace(/\u001b\[[0-9;]*m/g, "").length

/**
 * Colours a status by what it means: done, waiting, failed.
 *
 * @since 0.1.0
 * @category style
 */
export const status = (value: string): string => {
  switch (value) {
    case "completed":
    case "approved":
    case "decided":
      return style.green(value)
    case "failed":
    case "denied":
    case "canceled":
    case "timed-out":
      return style.red(value)
    case "waiting-approval":
    case "waiting":
    case "changes-requested":
    case "suspended":
      return style.yellow(value)
    default:
      return value
  }
}

/**
 * Rows as aligned columns under a header; an empty table prints `empty` instead.
 *
 * @since 0.1.0
 * @category printing
 */
export const table = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  empty: string
): Effect.Effect<void> => {
  if (rows.length === 0) return Console.log(empty)
  const widths = headers.map((header, column) =>
    Math.max(visibleLength(header), ...rows.map((row) => visibleLength(row[column] ?? "")))
  )
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((cell, column) =>
      column === cells.length - 1 ? cell : cell + " ".repeat(widths[column] - visibleLength(cell))
    ).join("  ").trimEnd()
  return Console.log([style.bold(line(headers)), ...rows.map(line)].join("\n"))
}

/**
 * `label: value` lines with the labels aligned.
 *
 * @since 0.1.0
 * @category printing
 */
export const fields = (entries: ReadonlyArray<readonly [string, string | undefined]>): string => {
  const present = entries.filter((entry): entry is readonly [string, string] => entry[1] !== undefined)
  const width = Math.max(0, ...present.map(([label]) => label.length))
  return present.map(([label, value]) => `${style.dim(`${label}:`.padEnd(width + 1))} ${value}`).join("\n")
}

const units: ReadonlyArray<readonly [string, number]> = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000]
]

/**
 * A duration in its two largest units: `2d 3h`, `5m 10s`, `0s`.
 *
 * @since 0.1.0
 * @category time
 */
export const duration = (millis: number): string => {
  let rest = Math.max(0, Math.round(millis))
  const parts: Array<string> = []
  for (const [unit, size] of units) {
    if (rest >= size || (unit === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`)
      rest %= size
    }
    if (parts.length === 2) break
  }
  return parts.join(" ")
}

/**
 * A time relative to `now`: `5m ago`, `in 2d 3h`, `now`.
 *
 * @since 0.1.0
 * @category time
 */
export const relative = (at: number, now: number): string => {
  const delta = at - now
  if (Math.abs(delta) < 1000) return "now"
  return delta > 0 ? `in ${duration(delta)}` : `${duration(-delta)} ago`
}

/**
 * A time as ISO 8601 with its relative form: `2026-11-22T14:00:00.000Z (5m ago)`.
 *
 * @since 0.1.0
 * @category time
 */
export const timestamp = (at: number, now: number): string => `${new Date(at).toISOString()} (${relative(at, now)})`

/**
 * One JSON document (pretty-printed) on stdout.
 *
 * @since 0.1.0
 * @category printing
 */
export const json = (value: unknown): Effect.Effect<void> => Console.log(JSON.stringify(value, null, 2))

/**
 * One JSON line on stdout (for streams).
 *
 * @since 0.1.0
 * @category printing
 */
export const jsonLine = (value: unknown): Effect.Effect<void> => Console.log(JSON.stringify(value))

/**
 * A value as short text for a table cell or a field: strings as they are, anything else as compact JSON.
 *
 * @since 0.1.0
 * @category printing
 */
export const brief = (value: unknown, max = 120): string => {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value)
  return text.length > max ? `${text.slice(0, max - 1)}…` : text
}

/**
 * The current time for relative times (the machine's clock through Effect's `Clock`).
 *
 * @since 0.1.0
 * @category time
 */
export const now: Effect.Effect<number> = Effect.clockWith((clock) => clock.currentTimeMillis)
