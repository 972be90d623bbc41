/**
 * The pure decisions of webhook delivery: which destinations are allowed, which events a subscription
 * wants, how long to wait before the next attempt, when to give up, and how a message is signed (the
 * Standard Webhooks scheme, through its maintained library).
 *
 * @internal
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto"
import { isIP } from "node:net"
import { Webhook } from "standardwebhooks"

/**
 * A host as compared: lower case, without the brackets of an IPv6 literal and without trailing dots
 * (`localhost.` is `localhost`: a fully qualified name ends with the root's empty label).
 *
 * @internal
 */
export const normalizeHost = (host: string): string =>
  host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.+$/, "")

/** Why a destination is refused, or undefined when it is allowed. @internal */
export const destinationProblem = (
  url: string,
  allowedHosts: ReadonlyArray<string> | undefined
): { readonly host: string; readonly reason: string } | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return { host: "", reason: "not a valid URL" }
  }
  // The WHATWG parser already writes every IPv4 form (decimal `2130706433`, hex `0x7f.1`, octal) as dotted
  // decimal and compresses IPv6 (`[::127.0.0.1]` is `[::7f00:1]`).
  const host = normalizeHost(parsed.hostname)
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return { host, reason: `only http and https URLs are allowed, not ${parsed.protocol.replace(/:$/, "")}` }
  }
  if (parsed.username !== "" || parsed.password !== "") return { host, reason: "credentials in the URL are not allowed" }
  if (host === "") return { host, reason: "no host" }
  if (allowedHosts !== undefined) {
    return allowedHosts.some((pattern) => hostMatches(host, normalizeHost(pattern)))
      ? undefined
      : { host, reason: `the host ${host} is not in the allow-list of destination hosts` }
  }
  // Without an allow-list, names and addresses of the local machine and of private networks are refused
  // here; a name is resolved again before each delivery and every address it resolves to is checked there
  // (`addressesProblem`), so a public name pointing inside is refused too.
  return isInternalHost(host) ? { host, reason: `the host ${host} is internal; add it to the allow-list to use it` } : undefined
}

const hostMatches = (host: string, pattern: string): boolean =>
  pattern.startsWith("*.") ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1 : host === pattern

const internalNames = [".localhost", ".internal", ".local", ".home.arpa", ".localdomain"]

/** Whether a host (a name or an address, normalized) is the local machine's or a private network's. @internal */
export const isInternalHost = (host: string): boolean => {
  const name = normalizeHost(host)
  if (name === "localhost" || internalNames.some((suffix) => name.endsWith(suffix))) return true
  return isIP(name) !== 0 && isInternalAddress(name)
}

const ipv4Internal = (a: number, b: number, c: number): boolean =>
  a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254) ||
  (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 192 && b === 0 && (c === 0 || c === 2)) ||
  (a === 198 && (b === 18 || b === 19)) || (a === 198 && b === 51 && c === 100) || (a === 203 && b === 0 && c === 113) ||
  a >= 224

/** The eight 16-bit groups of an IPv6 address (an embedded dotted IPv4 tail included), or undefined. */
const ipv6Groups = (address: string): ReadonlyArray<number> | undefined => {
  let text = address.toLowerCase()
  const zone = text.indexOf("%")
  if (zone >= 0) text = text.slice(0, zone)
  const lastColon = text.lastIndexOf(":")
  const tail = text.slice(lastColon + 1)
  if (tail.includes(".")) {
    if (isIP(tail) !== 4) return undefined
    const [a, b, c, d] = tail.split(".").map(Number)
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  const part = (s: string) => (s === "" ? [] : s.split(":"))
  const head = part(halves[0])
  const rest = halves.length === 2 ? part(halves[1]) : []
  const missing = 8 - head.length - rest.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined
  const groups = [...head, ...Array.from({ length: halves.length === 2 ? missing : 0 }, () => "0"), ...rest]
  if (groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined
  return groups.map((g) => parseInt(g, 16))
}

/**
 * Whether an IP address is one a webhook must not reach without the deployment's allow-list: loopback,
 * private networks, link-local (the cloud metadata address 169.254.169.254 among them), carrier-grade
 * NAT, multicast, documentation and benchmark ranges; in IPv6 also unique-local, link- and site-local,
 * every address of `::/64` (`::`, `::1`, and every IPv4-compatible and IPv4-mapped form such as
 * `::7f00:1` or `::ffff:127.0.0.1`), NAT64 prefixes, Teredo and 6to4 to an internal IPv4 address. Anything
 * not an address is internal too (refused rather than guessed at).
 *
 * @internal
 */
export const isInternalAddress = (address: string): boolean => {
  const text = normalizeHost(address)
  if (isIP(text) === 4) {
    const [a, b, c] = text.split(".").map(Number)
    return ipv4Internal(a, b, c)
  }
  const g = ipv6Groups(text)
  if (g === undefined) return true
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0) return true
  if (g[0] === 0x64 && g[1] === 0xff9b) return true // NAT64 (64:ff9b::/96, 64:ff9b:1::/48)
  if (g[0] === 0x100 && g[1] === 0 && g[2] === 0 && g[3] === 0) return true // discard-only
  if (g[0] === 0x2001 && (g[1] === 0 || g[1] === 0xdb8)) return true // Teredo, documentation
  if (g[0] === 0x2002) return ipv4Internal(g[1] >> 8, g[1] & 0xff, g[2] >> 8) // 6to4
  return (g[0] & 0xfe00) === 0xfc00 || (g[0] & 0xffc0) === 0xfe80 || (g[0] & 0xffc0) === 0xfec0 ||
    (g[0] & 0xff00) === 0xff00
}

/**
 * Why the addresses a destination's host resolved to may not be connected to, or undefined. An internal
 * address is allowed only where the deployment's allow-list names this host exactly (not by a wildcard):
 * an allow-list entry `127.0.0.1` or `hooks.corp` vouches for that host, `*.example.com` for no internal
 * address.
 *
 * @internal
 */
export const addressesProblem = (
  host: string,
  addresses: ReadonlyArray<string>,
  allowedHosts: ReadonlyArray<string> | undefined
): { readonly host: string; readonly reason: string } | undefined => {
  const name = normalizeHost(host)
  if (addresses.length === 0) return { host: name, reason: `the host ${name} resolves to no address` }
  const vouched = allowedHosts !== undefined &&
    allowedHosts.some((pattern) => !pattern.startsWith("*.") && normalizeHost(pattern) === name)
  if (vouched) return undefined
  const inside = addresses.find(isInternalAddress)
  return inside === undefined
    ? undefined
    : { host: name, reason: `the host ${name} resolves to ${inside}, an internal address; add the host to the allow-list to use it` }
}

/** The events a chat (`format: "slack"`) subscription gets a message for. @internal */
export const chatEventTypes: ReadonlyArray<string> = [
  "approval.requested",
  "approval.reminder",
  "approval.escalated",
  "approval.decided",
  "approval.timed-out"
]

/** Whether a subscription wants an event. @internal */
export const wants = (
  subscription: {
    readonly enabled: boolean
    readonly eventTypes?: ReadonlyArray<string> | undefined
    readonly workflows?: ReadonlyArray<string> | undefined
    readonly format?: "standard" | "slack" | undefined
    readonly createdAt: number
  },
  event: { readonly type: string; readonly workflow: string | undefined; readonly createdAt: number }
): boolean =>
  subscription.enabled &&
  (subscription.format !== "slack" || chatEventTypes.includes(event.type)) &&
  event.createdAt >= subscription.createdAt &&
  (subscription.eventTypes === undefined || subscription.eventTypes.some((type) => typeMatches(event.type, type))) &&
  (subscription.workflows === undefined ||
    (event.workflow !== undefined && subscription.workflows.includes(event.workflow)))

// "approval.*" matches every approval event.
const typeMatches = (type: string, pattern: string): boolean =>
  pattern === "*" || (pattern.endsWith(".*") ? type.startsWith(pattern.slice(0, -1)) : type === pattern)

/** Retry settings. @internal */
export interface RetryPolicy {
  readonly initialDelayMillis: number
  readonly maxDelayMillis: number
  /** How long after the first attempt (or a redelivery) a delivery is retried before it is dead-lettered. */
  readonly horizonMillis: number
}

/**
 * What follows a failed attempt: the next attempt after an exponential delay with jitter (between half and
 * all of the delay, `random` in [0, 1)), or dead-lettering once that would pass the horizon.
 *
 * @internal
 */
export const afterFailure = (
  policy: RetryPolicy,
  options: { readonly attempts: number; readonly retryFrom: number; readonly now: number; readonly random: number }
): { readonly _tag: "Retry"; readonly at: number } | { readonly _tag: "Dead" } => {
  const exponent = Math.min(Math.max(options.attempts - 1, 0), 30)
  const delay = Math.min(policy.initialDelayMillis * 2 ** exponent, policy.maxDelayMillis)
  const at = options.now + Math.round(delay * (0.5 + options.random / 2))
  return at > options.retryFrom + policy.horizonMillis ? { _tag: "Dead" } : { _tag: "Retry", at }
}

/** The webhook-id of a new message: `msg_` and a random id, as Standard Webhooks suggests. @internal */
export const newMessageId = (): string => `msg_${randomUUID().replaceAll("-", "")}`

/** A new signing secret in the Standard Webhooks format: `whsec_` and 32 random bytes in base64. @internal */
export const newSecret = (): string => `whsec_${randomBytes(32).toString("base64")}`

/**
 * The `webhook-signature` header: one `v1,<signature>` per secret still in use, separated by spaces, so a
 * receiver that knows either the new or the previous secret of a rotation verifies the message.
 *
 * @internal
 */
export const signatureHeader = (
  secrets: ReadonlyArray<{ readonly secret: string; readonly expiresAt?: number | undefined }>,
  message: { readonly id: string; readonly timestampSeconds: number; readonly body: string },
  now: number
): string =>
  secrets
    .filter((secret) => secret.expiresAt === undefined || secret.expiresAt > now)
    .map((secret) =>
      new Webhook(secret.secret).sign(message.id, new Date(message.timestampSeconds * 1000), message.body)
    )
    .join(" ")

/** The first bytes of a response body kept with an attempt. @internal */
export const responsePrefixLength = 256

const sealedPrefix = "sealed:v1:"

/**
 * Seals a signing secret for storage with AES-256-GCM under the configured key (32 bytes), or leaves it
 * as given when no key is configured. @internal
 */
export const sealSecret = (secret: string, key: Uint8Array | undefined): string => {
  if (key === undefined) return secret
  const iv = randomBytes(12)
  const cipher = createCipheriv("aes-256-gcm", key, iv)
  const sealed = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()])
  return `${sealedPrefix}${iv.toString("base64")}:${cipher.getAuthTag().toString("base64")}:${sealed.toString("base64")}`
}

/**
 * The secret a stored value holds: unsealed with the key when it was sealed. Undefined when it was sealed
 * and the key is missing or another one (nothing can be signed with it then). @internal
 */
export const unsealSecret = (stored: string, key: Uint8Array | undefined): string | undefined => {
  if (!stored.startsWith(sealedPrefix)) return stored
  if (key === undefined) return undefined
  const [iv, tag, sealed] = stored.slice(sealedPrefix.length).split(":")
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64"))
    decipher.setAuthTag(Buffer.from(tag, "base64"))
    return Buffer.concat([decipher.update(Buffer.from(sealed, "base64")), decipher.final()]).toString("utf8")
  } catch {
    return undefined
  }
}
