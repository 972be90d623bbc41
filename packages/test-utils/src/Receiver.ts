/**
 * The webhook receiver every suite uses: a real HTTP server on 127.0.0.1 (port 0) that records each
 * request, answers as the test says (a status, a late answer, no answer at all), can be taken down and up
 * again on the same port, and lets a test wait for a condition on what it received instead of sleeping.
 * `verifySignature` checks a Standard Webhooks signature independently of the engine's signing library.
 *
 * @since 0.0.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import { createHmac, timingSafeEqual } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

/**
 * One request a receiver got.
 *
 * @since 0.0.0
 * @category models
 */
export interface Received {
  readonly id: string
  readonly timestamp: string
  readonly signature: string
  readonly body: string
  readonly status: number
  /** The request's path. */
  readonly path: string
}

/**
 * A real HTTP receiver on 127.0.0.1 (port 0). `respond` picks each answer's status (and body); `stop` and
 * `start` take it down (connections refused) and up again on the same port.
 *
 * @since 0.0.0
 * @category models
 */
export interface Receiver {
  readonly url: string
  readonly received: Array<Received>
  /** The most requests to a path open at once (received and not yet answered or closed). */
  readonly maxInFlight: (path: string) => number
  respond: (request: { readonly id: string; readonly body: string; readonly n: number }) => {
    readonly status: number
    readonly body?: string
    /** Never answer (the status recorded is 0): a receiver that hangs mid-delivery. */
    readonly hold?: boolean
    /** Answer this many milliseconds late: a slow receiver. */
    readonly delayMs?: number
  }
  readonly stop: Effect.Effect<void>
  readonly start: Effect.Effect<void>
  /** Resolves when `predicate` holds for the requests received (checked after each one). */
  readonly until: (predicate: (received: ReadonlyArray<Received>) => boolean) => Effect.Effect<void>
}

/**
 * Starts a receiver for the scope: closed (its open connections too) when the scope closes.
 *
 * @since 0.0.0
 * @category constructors
 */
export const makeReceiver: Effect.Effect<Receiver, never, Scope.Scope> = Effect.gen(function*() {
  let waiters: Array<() => void> = []
  const receiver: Receiver = {
    url: "",
    received: [],
    maxInFlight: (path) => maxInFlight.get(path) ?? 0,
    respond: () => ({ status: 200 }),
    stop: Effect.void,
    start: Effect.void,
    until: (predicate) =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (!predicate(receiver.received)) return false
          resume(Effect.void)
          return true
        }
        if (check()) return
        const waiter = () => {
          if (check()) waiters = waiters.filter((w) => w !== waiter)
        }
        waiters.push(waiter)
        return Effect.sync(() => {
          waiters = waiters.filter((w) => w !== waiter)
        })
      })
  }
  let n = 0
  const inFlight = new Map<string, number>()
  const maxInFlight = new Map<string, number>()
  const server = http.createServer((req, res) => {
    const path = req.url ?? ""
    inFlight.set(path, (inFlight.get(path) ?? 0) + 1)
    maxInFlight.set(path, Math.max(maxInFlight.get(path) ?? 0, inFlight.get(path)!))
    res.on("close", () => inFlight.set(path, inFlight.get(path)! - 1))
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8")
      const id = String(req.headers["webhook-id"] ?? "")
      const answer = receiver.respond({ id, body, n: n++ })
      receiver.received.push({
        id,
        timestamp: String(req.headers["webhook-timestamp"] ?? ""),
        signature: String(req.headers["webhook-signature"] ?? ""),
        body,
        status: answer.hold === true ? 0 : answer.status,
        path
      })
      if (answer.hold === true) {
        for (const waiter of [...waiters]) waiter()
        return
      }
      const reply = () => {
        res.writeHead(answer.status, { "content-type": "text/plain" })
        res.end(answer.body ?? "ok")
        for (const waiter of [...waiters]) waiter()
      }
      if (answer.delayMs === undefined) reply()
      else setTimeout(reply, answer.delayMs)
    })
  })
  const listen = (port: number) =>
    Effect.async<number>((resume) => {
      server.listen(port, "127.0.0.1", () => resume(Effect.succeed((server.address() as AddressInfo).port)))
    })
  const close = Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })
  const port = yield* Effect.acquireRelease(listen(0), () => Effect.ignore(close))
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hook`,
    stop: close,
    start: Effect.asVoid(listen(port))
  })
})

/**
 * A receiver for a test written with promises (`beforeAll`/`afterAll`): `close` ends it.
 *
 * @since 0.0.0
 * @category constructors
 */
export const startReceiver = async (): Promise<Receiver & { readonly close: () => Promise<void> }> => {
  const scope = Effect.runSync(Scope.make())
  const receiver = await Effect.runPromise(Scope.extend(makeReceiver, scope))
  return Object.assign(receiver, { close: () => Effect.runPromise(Scope.close(scope, Exit.void)) })
}

/**
 * An independent implementation of Standard Webhooks verification (node:crypto, not the library the
 * engine signs with): some `v1,` signature of the header is HMAC-SHA256 of `id.timestamp.body` under the
 * secret's key (base64 after `whsec_`).
 *
 * @since 0.0.0
 * @category verification
 */
export const verifySignature = (secret: string, message: Received): boolean => {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64")
  const expected = createHmac("sha256", key).update(`${message.id}.${message.timestamp}.${message.body}`).digest()
  return message.signature.split(" ").some((part) => {
    const [version, signature] = part.split(",")
    if (version !== "v1" || signature === undefined) return false
    const given = Buffer.from(signature, "base64")
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
}
