import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { pinnedFetch, resolveDestination } from "../src/internal/webhookHttp.js"
import { addressesProblem, destinationProblem, isInternalAddress } from "../src/internal/webhookPolicy.js"

// Issue 19, defect 6: where a webhook may be sent, checked on the URL, on every address its host resolves
// to, and on the connection (pinned to the checked address).

describe("webhook destinations (issue 19: localhost. and IPv4-compatible IPv6 passed the check)", () => {
  it("without an allow-list every spelling of the local machine or a private network is refused", () => {
    const refused = [
      "http://localhost./hook",
      "http://LOCALHOST../hook",
      "http://api.localhost./hook",
      "http://metadata.google.internal./computeMetadata",
      "http://[::127.0.0.1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://[::7f00:1]/",
      "http://[0:0:0:0:0:ffff:7f00:1]/",
      "http://[::ffff:0:7f00:1]/",
      "http://[::1]/",
      "http://[::]/",
      "http://[::a9fe:a9fe]/",
      "http://[64:ff9b::a9fe:a9fe]/",
      "http://[2002:7f00:1::]/",
      "http://[fe80::1]/",
      "http://[fd00:ec2::254]/",
      "http://[fc00::1]/",
      "http://2130706433/",
      "http://0x7f.1/",
      "http://0x7f000001/",
      "http://017700000001/",
      "http://127.1/",
      "http://0/",
      "http://169.254.169.254/latest/meta-data",
      "http://100.100.100.200/",
      "http://10.0.0.5:8080/",
      "http://172.16.0.1/",
      "http://192.168.1.1./"
    ]
    for (const url of refused) {
      const problem = destinationProblem(url, undefined)
      assert.isDefined(problem, `${url} must be refused`)
      assert.match(problem!.reason, /internal/, url)
    }
    for (const url of ["https://hooks.example.com/x", "http://93.184.215.14/", "https://[2606:4700::1111]/"]) {
      assert.isUndefined(destinationProblem(url, undefined), `${url} is public`)
    }
  })

  it("an allow-list compares hosts without their trailing dots; an address in it is taken literally", () => {
    assert.isUndefined(destinationProblem("http://127.0.0.1:9/", ["127.0.0.1"]))
    assert.isUndefined(destinationProblem("https://hooks.example.com./x", ["hooks.example.com"]))
    assert.isUndefined(destinationProblem("https://a.example.com/x", ["*.example.com."]))
    assert.isDefined(destinationProblem("http://localhost./", ["127.0.0.1"]))
    assert.isDefined(destinationProblem("http://[::ffff:127.0.0.1]/", ["127.0.0.1"]))
  })

  it("every address a host resolves to is checked; only an exact allow-list entry vouches for an internal one", () => {
    for (const address of ["127.0.0.1", "::1", "::ffff:127.0.0.1", "::7f00:1", "169.254.169.254", "fd00::1", "10.1.2.3"]) {
      assert.isTrue(isInternalAddress(address), address)
    }
    for (const address of ["93.184.215.14", "2606:4700::1111", "8.8.8.8"]) assert.isFalse(isInternalAddress(address), address)
    // One internal address among public ones is enough to refuse.
    assert.match(addressesProblem("hooks.example.com", ["93.184.215.14", "127.0.0.1"], undefined)!.reason, /127\.0\.0\.1/)
    assert.isDefined(addressesProblem("hooks.example.com", ["10.0.0.1"], ["*.example.com"]), "a wildcard vouches for none")
    assert.isUndefined(addressesProblem("hooks.example.com.", ["10.0.0.1"], ["hooks.example.com"]))
    assert.isUndefined(addressesProblem("hooks.example.com", ["93.184.215.14"], undefined))
    assert.isDefined(addressesProblem("hooks.example.com", [], undefined))
  })

  it.effect("a name resolving to 127.0.0.1 (localhost, a hosts-file name) is refused after resolution", () =>
    Effect.gen(function*() {
      const local = yield* Effect.either(resolveDestination("http://localhost./hook", undefined))
      assert.isTrue(Either.isLeft(local))
      if (Either.isLeft(local)) {
        assert.match(local.left.reason, /resolves to (127\.0\.0\.1|::1), an internal address/)
        assert.isTrue(local.left.final)
      }
      // Named exactly in the allow-list, it is allowed and pinned to the address checked.
      const allowed = yield* resolveDestination("http://localhost:9/hook", ["localhost"])
      assert.strictEqual(allowed.host, "localhost")
      assert.isTrue(isInternalAddress(allowed.address))
    }))

  it.scoped("the connection goes to the pinned address: the name is not resolved again", () =>
    Effect.gen(function*() {
      const seen: Array<{ host: string | undefined; body: string }> = []
      const server = yield* Effect.acquireRelease(
        Effect.async<http.Server>((resume) => {
          const server = http.createServer((req, res) => {
            const chunks: Array<Buffer> = []
            req.on("data", (chunk: Buffer) => chunks.push(chunk))
            req.on("end", () => {
              seen.push({ host: req.headers.host, body: Buffer.concat(chunks).toString("utf8") })
              res.writeHead(201, { "x-answer": "yes" }).end("created")
            })
          })
          server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
        }),
        (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
      )
      const port = (server.address() as AddressInfo).port
      // `rebind.invalid` resolves nowhere (RFC 2606): only the pinned address can be reached.
      const fetch = pinnedFetch({ host: "rebind.invalid", address: "127.0.0.1", family: 4 })
      const response = yield* Effect.promise(() =>
        fetch(`http://rebind.invalid:${port}/hook`, { method: "POST", body: new TextEncoder().encode("{\"a\":1}") })
      )
      assert.strictEqual(response.status, 201)
      assert.strictEqual(response.headers.get("x-answer"), "yes")
      assert.strictEqual(yield* Effect.promise(() => response.text()), "created")
      assert.deepStrictEqual(seen, [{ host: `rebind.invalid:${port}`, body: "{\"a\":1}" }])
      // A request to another host than the one resolved is refused, not resolved.
      const other = yield* Effect.either(Effect.tryPromise(() => fetch(`http://127.0.0.2:${port}/hook`)))
      assert.isTrue(Either.isLeft(other))
    }))
})
