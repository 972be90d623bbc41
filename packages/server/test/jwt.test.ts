import { assert, layer } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Jose from "jose"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { authConfig, serve, SharedEngine, sharedEngine, sqliteEngine } from "./utils/fixtures.js"

const issuer = "https://idp.test/"
const audience = "gatehouse"

const keys = Effect.promise(async () => {
  const own = await Jose.generateKeyPair("RS256", { extractable: true })
  const other = await Jose.generateKeyPair("RS256", { extractable: true })
  const jwk = { ...(await Jose.exportJWK(own.publicKey)), kid: "k1", alg: "RS256", use: "sig" }
  return { own, other, jwks: { keys: [jwk] } }
})

const sign = (
  key: Jose.CryptoKey,
  claims: Record<string, unknown>,
  options: { issuer?: string; audience?: string; expiresIn?: string | number } = {}
) =>
  Effect.promise(() =>
    new Jose.SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid: "k1" })
      .setIssuer(options.issuer ?? issuer)
      .setAudience(options.audience ?? audience)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? "5 minutes")
      .sign(key)
  )

/** A JWKS served over HTTP on 127.0.0.1 for the scope. */
const jwksServer = (jwks: unknown) =>
  Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const server = http.createServer((_, response) => {
        response.setHeader("content-type", "application/json")
        response.end(JSON.stringify(jwks))
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
  )

// One engine for the file (these tests start no runs); each test serves its own authentication on it.
layer(sharedEngine(sqliteEngine), { excludeTestServices: true, timeout: "60 seconds" })("OIDC/JWT bearer tokens", (it) => {
  it.scoped("a JWKS file: the principal comes from the claims; wrong audience, wrong issuer, expired, other key → 401", () =>
    Effect.gen(function*() {
      const { jwks, other, own } = yield* keys
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-jwks-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true })))
      const jwksFile = path.join(dir, "jwks.json")
      fs.writeFileSync(jwksFile, JSON.stringify(jwks))
      const engine = yield* SharedEngine
      const server = yield* serve(engine, {}, {
        ...authConfig,
        jwt: { issuer, audience, jwksFile, rolesClaim: "realm_access.roles" }
      })
      const inbox = (token: string) => server.fetch("/v1/approvals", { token })

      const good = yield* sign(own.privateKey, { sub: "grace", realm_access: { roles: ["finance"] } })
      assert.strictEqual((yield* inbox(good)).status, 200)
      // roles come from the token: grace as finance may read an approval; the operator endpoints say 403
      assert.strictEqual((yield* server.fetch("/v1/runs", { token: good })).status, 403)
      const operator = yield* sign(own.privateKey, { sub: "olivia", realm_access: { roles: ["operator"] } })
      assert.strictEqual((yield* server.fetch("/v1/runs", { token: operator })).status, 200)

      const refused = {
        "wrong audience": yield* sign(own.privateKey, { sub: "grace" }, { audience: "someone-else" }),
        "wrong issuer": yield* sign(own.privateKey, { sub: "grace" }, { issuer: "https://evil.test/" }),
        "expired": yield* sign(own.privateKey, { sub: "grace" }, { expiresIn: Math.floor(Date.now() / 1000) - 60 }),
        "other key": yield* sign(other.privateKey, { sub: "grace" }),
        "no subject": yield* sign(own.privateKey, { realm_access: { roles: ["finance"] } }),
        "tampered": good.slice(0, -4) + (good.endsWith("AAAA") ? "BBBB" : "AAAA")
      }
      for (const [name, token] of Object.entries(refused)) {
        const response = yield* inbox(token)
        assert.strictEqual(response.status, 401, name)
        assert.strictEqual(((yield* Effect.promise(() => response.json())) as any)._tag, "Unauthenticated", name)
      }
      // API tokens keep working beside JWTs
      assert.strictEqual((yield* inbox("grace-token-0123456789abcdef")).status, 200)
    }))

  it.scoped("the inbox: signing in with a JWT opens a session with its claims that ends when the token does", () =>
    Effect.gen(function*() {
      const { jwks, own } = yield* keys
      const idp = yield* jwksServer(jwks)
      const jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks.json`
      const engine = yield* SharedEngine
      const server = yield* serve(engine, {}, { jwt: { issuer, audience, jwksUrl } })
      const token = yield* sign(own.privateKey, { sub: "grace", roles: ["finance"] }, { expiresIn: "2 minutes" })
      const form = yield* server.fetch("/inbox/sign-in")
      const login = form.headers.getSetCookie().map((cookie) => cookie.split(";")[0]).join("; ")
      const csrf = /name="_csrf" value="([^"]+)"/.exec(yield* Effect.promise(() => form.text()))![1]
      const signedIn = yield* server.fetch("/inbox/sign-in", {
        method: "POST",
        redirect: "manual",
        headers: { cookie: login, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ _csrf: csrf, token }).toString()
      })
      assert.strictEqual(signedIn.status, 303)
      const session = signedIn.headers.getSetCookie().find((cookie) => cookie.startsWith("gatehouse_session="))!
      const maxAge = Number(/Max-Age=(\d+)/i.exec(session)![1])
      assert.isTrue(maxAge > 0 && maxAge <= 120, `Max-Age ${maxAge}`)
      const inbox = yield* server.fetch("/inbox", { headers: { cookie: session.split(";")[0] }, redirect: "manual" })
      assert.strictEqual(inbox.status, 200)
      assert.include(yield* Effect.promise(() => inbox.text()), "Signed in as <strong>grace</strong>")
    }))

  it.scoped("a JWKS URL", () =>
    Effect.gen(function*() {
      const { jwks, own } = yield* keys
      const idp = yield* jwksServer(jwks)
      const jwksUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks.json`
      const engine = yield* SharedEngine
      const server = yield* serve(engine, {}, { jwt: { issuer, audience, jwksUrl } })
      const token = yield* sign(own.privateKey, { sub: "grace", roles: "finance auditor" })
      assert.strictEqual((yield* server.fetch("/v1/approvals", { token })).status, 200)
      assert.strictEqual((yield* server.fetch("/v1/approvals", { token: token + "x" })).status, 401)
    }))
})
