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
  const host = parsed.hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1")
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return { host, reason: `only http and https URLs are allowed, not ${parsed.protocol.replace(/:$/, "")}` }
  }
  if (parsed.username !== "" || parsed.password !== "") return { host, reason: "credentials in the URL are not allowed" }
  if (allowedHosts !== undefined) {
    return allowedHosts.some((pattern) => hostMatches(host, pattern.toLowerCase()))
      ? undefined
      : { host, reason: `the host ${host} is not in the allow-list of destination hosts` }
  }
  // Without an allow-list, addresses of the local machine and of private networks are refused; a name is
  // taken as public (see the docs: DNS is not resolved here, an allow-list is the real boundary).
  return isInternalHost(host) ? { host, reason: `the host ${host} is internal; add it to the allow-list to use it` } : undefined
}

const hostMatches = (host: string, pattern: string): boolean =>
  pattern.startsWith("*.") ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1 : host === pattern

const isInternalHost = (host: string): boolean => {
  if (host === "localhost" || host.endsWith(".localhost") || host.endsWith(".internal") || host.endsWith(".local")) {
    return true
  }
  const version = isIP(host)
  if (version === 4) {
    const [a, b] = host.split(".").map(Number)
    return a === 0 || a === 10 || a === 127 || (a === 100 && b >= 64 && b < 128) || (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || a >= 224
  }
  if (version === 6) {
    const lower = host.toLowerCase()
    return lower === "::" || lower === "::1" || lower.startsWith("fc") || lower.startsWith("fd") ||
      lower.startsWith("fe80") || lower.startsWith("::ffff:")
  }
  return false
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
