/**
 * Where a webhook is connected to: its host is resolved once before each attempt, every address is checked
 * (`addressesProblem`), and the connection is made to the checked address, never resolved again, so a name
 * that changes its answer between the check and the connection (DNS rebinding) cannot move a delivery
 * inside. The request goes out through `node:http`/`node:https` with a `lookup` that answers the pinned
 * address; TLS still verifies the certificate against the URL's host name.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as dns from "node:dns"
import * as http from "node:http"
import * as https from "node:https"
import { isIP, type LookupFunction } from "node:net"
import { Readable } from "node:stream"
import { addressesProblem, normalizeHost } from "./webhookPolicy.js"

/** An address a destination was resolved to and checked. @internal */
export interface Pinned {
  readonly host: string
  readonly address: string
  readonly family: 4 | 6
}

/** Why a destination cannot be connected to now; `final` when trying again will not help. @internal */
export interface Refused {
  readonly reason: string
  readonly final: boolean
}

/**
 * Resolves the URL's host (all of its addresses) and checks each: the pinned address, or why not.
 *
 * @internal
 */
export const resolveDestination = (
  url: string,
  allowedHosts: ReadonlyArray<string> | undefined
): Effect.Effect<Pinned, Refused> =>
  Effect.gen(function*() {
    const host = yield* Effect.try({
      try: () => normalizeHost(new URL(url).hostname),
      catch: (): Refused => ({ reason: "not a valid URL", final: true })
    })
    const literal = isIP(host)
    const addresses = literal !== 0
      ? [{ address: host, family: literal }]
      : yield* Effect.tryPromise({
        try: (signal) => {
          signal.throwIfAborted()
          return dns.promises.lookup(host, { all: true, verbatim: true })
        },
        catch: (error): Refused => ({
          reason: `cannot resolve ${host}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          final: false
        })
      })
    const problem = addressesProblem(host, addresses.map((a) => a.address), allowedHosts)
    if (problem !== undefined) return yield* Effect.fail<Refused>({ reason: problem.reason, final: true })
    const first = addresses[0]
    return { host, address: first.address, family: first.family === 6 ? 6 : 4 }
  })

/** A `lookup` that answers the pinned address whatever it is asked. */
const pinnedLookup = (pinned: Pinned): LookupFunction => (_hostname, options, callback) => {
  if (options.all === true) {
    ;(callback as (error: null, addresses: Array<{ address: string; family: number }>) => void)(null, [
      { address: pinned.address, family: pinned.family }
    ])
  } else {
    callback(null, pinned.address, pinned.family)
  }
}

/**
 * A `fetch` that connects only to the pinned address (one connection per request, redirects not followed:
 * a 3xx is an answer like any other).
 *
 * @internal
 */
export const pinnedFetch = (pinned: Pinned): typeof globalThis.fetch =>
  ((input: string | URL | Request, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === "string" || input instanceof URL ? input : input.url)
      if (normalizeHost(url.hostname) !== pinned.host) {
        reject(new Error(`the request's host ${url.hostname} is not the one resolved (${pinned.host})`))
        return
      }
      const headers: Record<string, string> = {}
      new Headers(init.headers).forEach((value, key) => {
        headers[key] = value
      })
      const body = init.body === undefined || init.body === null
        ? undefined
        : typeof init.body === "string"
        ? Buffer.from(init.body, "utf8")
        : init.body instanceof Uint8Array
        ? Buffer.from(init.body)
        : undefined
      if (init.body !== undefined && init.body !== null && body === undefined) {
        reject(new Error("only a string or bytes body can be sent"))
        return
      }
      if (body !== undefined) headers["content-length"] = String(body.length)
      const options: https.RequestOptions = {
        method: init.method ?? "GET",
        headers,
        lookup: pinnedLookup(pinned),
        agent: false,
        ...(init.signal ? { signal: init.signal } : {})
      }
      const request = (url.protocol === "https:" ? https : http).request(url, options, (response) => {
        const responseHeaders = new Headers()
        for (const [key, value] of Object.entries(response.headers)) {
          if (value === undefined) continue
          for (const one of Array.isArray(value) ? value : [value]) responseHeaders.append(key, one)
        }
        const status = response.statusCode ?? 0
        const nullBody = status === 204 || status === 205 || status === 304 || (status >= 100 && status < 200)
        if (nullBody) response.resume()
        resolve(
          new Response(nullBody ? null : (Readable.toWeb(response) as ReadableStream<Uint8Array>), {
            status: status < 200 || status > 599 ? 599 : status,
            ...(response.statusMessage ? { statusText: response.statusMessage } : {}),
            headers: responseHeaders
          })
        )
      })
      request.on("error", reject)
      request.end(body)
    })) as typeof globalThis.fetch
