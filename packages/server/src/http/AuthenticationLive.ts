/**
 * The bearer authentication: API tokens looked up by their SHA-256, and OIDC/JWT access tokens verified
 * with `jose` against a JWKS.
 *
 * @since 0.1.0
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Config from "effect/Config"
import type { ConfigError } from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Jose from "jose"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { AuthConfig, Authentication, metricsRole, Principal, Unauthenticated } from "../Authentication.js"

/**
 * The SHA-256 (hex) of a token, as the configuration stores it.
 *
 * @since 0.1.0
 * @category tokens
 */
export const hashToken = (token: string): string => createHash("sha256").update(token, "utf8").digest("hex")

const claimAt = (payload: Record<string, unknown>, path: string): unknown =>
  path.split(".").reduce<unknown>(
    (value, key) => value !== null && typeof value === "object" ? (value as Record<string, unknown>)[key] : undefined,
    payload
  )

const decodePrincipal = Schema.decodeUnknownOption(Principal)

// RFC 6750: a 401 says which scheme to use.
const challenge = HttpApp.appendPreResponseHandler((_request, response) =>
  Effect.succeed(HttpServerResponse.setHeader(response, "www-authenticate", "Bearer realm=\"gatehouse\""))
)

const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: AuthConfig): Authentication["Type"] => {
  const principals = new Map(config.tokens.map((token) => [token.sha256, new Principal({ id: token.id, roles: token.roles })]))
  const jwt = config.jwt
  const jwks = jwt === undefined
    ? undefined
    : jwt.jwksUrl !== undefined
    ? Jose.createRemoteJWKSet(new URL(jwt.jwksUrl))
    : jwt.jwksFile !== undefined
    ? Jose.createLocalJWKSet(JSON.parse(fs.readFileSync(jwt.jwksFile, "utf8")))
    : undefined
  const unauthenticated = (message: string) => new Unauthenticated({ message })

  const verifyJwt = (token: string) =>
    Effect.gen(function*() {
      if (jwt === undefined || jwks === undefined) return yield* unauthenticated("unknown token")
      const { payload } = yield* Effect.tryPromise({
        try: () =>
          Jose.jwtVerify(token, jwks, {
            issuer: jwt.issuer,
            audience: jwt.audience as string | Array<string>,
            clockTolerance: jwt.clockToleranceSeconds,
            ...(jwt.algorithms !== undefined ? { algorithms: jwt.algorithms as Array<string> } : {})
          }),
        catch: (error) =>
          unauthenticated(`invalid token: ${error instanceof Jose.errors.JOSEError ? error.code : "verification failed"}`)
      })
      const roles = claimAt(payload, jwt.rolesClaim)
      const principal = decodePrincipal({
        id: claimAt(payload, jwt.idClaim),
        roles: typeof roles === "string" ? roles.split(" ").filter((role) => role !== "") : roles ?? []
      })
      if (principal._tag === "None") {
        return yield* unauthenticated(`the token's ${jwt.idClaim} and ${jwt.rolesClaim} claims do not name a principal`)
      }
      return principal.value
    })

  const anonymousScraper = new Principal({ id: "anonymous", roles: [metricsRole] })

  return {
    bearer: (credential) =>
      Effect.suspend(() => {
        const token = Redacted.value(credential).trim()
        if (token === "") {
          // Only `/metrics`, and only when the configuration says so, answers without credentials.
          return config.publicMetrics === true
            ? Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
              new URL(request.url, "http://localhost").pathname === "/metrics"
                ? Effect.succeed(anonymousScraper)
                : Effect.fail(unauthenticated("missing bearer token")))
            : Effect.fail(unauthenticated("missing bearer token"))
        }
        const principal = principals.get(hashToken(token))
        if (principal !== undefined) return Effect.succeed(principal)
        return jwtShape.test(token) ? verifyJwt(token) : Effect.fail(unauthenticated("unknown token"))
      }).pipe(Effect.tapError(() => challenge))
  }
}

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: AuthConfig): Layer.Layer<Authentication> =>
  Layer.sync(Authentication, () => make(config))

/**
 * Reads and validates an authentication file (JSON, see `AuthConfig`).
 *
 * @since 0.1.0
 * @category config
 */
export const readFile = (path: string): Effect.Effect<AuthConfig, Error> =>
  Effect.try({
    try: () => JSON.parse(fs.readFileSync(path, "utf8")) as unknown,
    catch: (error) => new Error(`cannot read the auth file ${path}: ${String(error)}`)
  }).pipe(
    Effect.flatMap(Schema.decodeUnknown(AuthConfig)),
    Effect.mapError((error) => error instanceof Error ? error : new Error(`invalid auth file ${path}: ${String(error)}`))
  )

/**
 * @since 0.1.0
 * @category layers
 */
export const layerFile = (path: string): Layer.Layer<Authentication, Error> =>
  Layer.effect(Authentication, Effect.map(readFile(path), make))

/**
 * The authentication file named by `GATEHOUSE_AUTH_FILE`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<Authentication, Error | ConfigError> = Layer.unwrapEffect(
  Effect.map(Config.string("GATEHOUSE_AUTH_FILE"), layerFile)
)
