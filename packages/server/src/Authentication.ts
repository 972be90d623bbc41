/**
 * Who is calling: the bearer-token security of the API and the principal it resolves to. Every group
 * except health is behind `Authentication`; handlers read `CurrentPrincipal` and pass it to the engine,
 * which checks what that principal may do. The definitions here are shared with clients (no Node
 * imports); the implementation is `http/AuthenticationLive.ts`.
 *
 * @since 0.1.0
 */
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as Context from "effect/Context"
import * as Schema from "effect/Schema"

/**
 * The role that may read everything, cancel runs and start workflows.
 *
 * @since 0.1.0
 * @category roles
 */
export const operatorRole: "operator" = "operator"

/**
 * The role that may start workflows (besides operators).
 *
 * @since 0.1.0
 * @category roles
 */
export const starterRole: "starter" = "starter"

/**
 * The role that may read `/metrics` (besides operators).
 *
 * @since 0.1.0
 * @category roles
 */
export const metricsRole: "metrics" = "metrics"

/**
 * The role that may complete durable deferreds from outside (a webhook's credentials), besides operators.
 *
 * @since 0.1.0
 * @category roles
 */
export const deferredsRole: "deferreds" = "deferreds"

/**
 * An authenticated caller: an id and the roles its credentials vouch for. It is passed to the engine as
 * the reviewer of a decision and the actor of a cancel or a start.
 *
 * @since 0.1.0
 * @category models
 */
export class Principal extends Schema.Class<Principal>("@gatehouse/server/Principal")({
  id: Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200)),
  roles: Schema.Array(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(100)))
}) {}

/**
 * @since 0.1.0
 * @category predicates
 */
export const isOperator = (principal: Principal): boolean => principal.roles.includes(operatorRole)

/**
 * The principal of the request being handled.
 *
 * @since 0.1.0
 * @category tags
 */
export class CurrentPrincipal extends Context.Tag("@gatehouse/server/CurrentPrincipal")<CurrentPrincipal, Principal>() {}

/**
 * No credentials, or credentials that do not resolve to a principal (unknown token, bad signature,
 * wrong issuer or audience, expired).
 *
 * @since 0.1.0
 * @category errors
 */
export class Unauthenticated extends Schema.TaggedError<Unauthenticated>("@gatehouse/server/Unauthenticated")(
  "Unauthenticated",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 401, description: "Missing or invalid bearer credentials" })
) {}

/**
 * Bearer authentication: an API token or an OIDC/JWT access token.
 *
 * @since 0.1.0
 * @category middleware
 */
export class Authentication extends HttpApiMiddleware.Tag<Authentication>()("@gatehouse/server/Authentication", {
  failure: Unauthenticated,
  provides: CurrentPrincipal,
  security: { bearer: HttpApiSecurity.bearer }
}) {}

/**
 * An API token: the SHA-256 (hex) of the secret, never the secret itself, and the principal it stands
 * for.
 *
 * @since 0.1.0
 * @category config
 */
export const TokenConfig = Schema.Struct({
  id: Principal.fields.id,
  roles: Schema.optionalWith(Principal.fields.roles, { default: () => [] }),
  sha256: Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/, { message: () => "sha256 must be 64 lowercase hex digits" }))
})

/**
 * OIDC/JWT access tokens: verified against a JWKS (a URL, or a local file), with issuer and audience
 * checks; `idClaim` and `rolesClaim` (dotted paths, e.g. `realm_access.roles`) map claims to the principal.
 *
 * @since 0.1.0
 * @category config
 */
export const JwtConfig = Schema.Struct({
  issuer: Schema.String,
  audience: Schema.Union(Schema.String, Schema.Array(Schema.String)),
  jwksUrl: Schema.optional(Schema.String),
  jwksFile: Schema.optional(Schema.String),
  idClaim: Schema.optionalWith(Schema.String, { default: () => "sub" }),
  rolesClaim: Schema.optionalWith(Schema.String, { default: () => "roles" }),
  algorithms: Schema.optional(Schema.Array(Schema.String)),
  clockToleranceSeconds: Schema.optionalWith(Schema.Number, { default: () => 0 })
})

/**
 * The authentication configuration (the `--auth` file, JSON).
 *
 * @example
 * ```json
 * {
 *   "tokens": [
 *     { "id": "ops-bot", "roles": ["operator"], "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" }
 *   ],
 *   "jwt": { "issuer": "https://idp.example.com/", "audience": "gatehouse", "jwksUrl": "https://idp.example.com/jwks.json" }
 * }
 * ```
 *
 * @since 0.1.0
 * @category config
 */
export const AuthConfig = Schema.Struct({
  tokens: Schema.optionalWith(Schema.Array(TokenConfig), { default: () => [] }),
  jwt: Schema.optional(JwtConfig),
  /** `GET /metrics` without credentials (a scraper on a private network); default false. */
  publicMetrics: Schema.optional(Schema.Boolean)
})

/**
 * @since 0.1.0
 * @category config
 */
export type AuthConfig = typeof AuthConfig.Type
