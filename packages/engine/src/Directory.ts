/**
 * The deployment's directory of people: ids to names, email addresses, chat ids, roles and time zones.
 * Notifications, delegation and the inbox share it. It is, with an authenticated principal, the only
 * source of decision authority: a role counts for someone only when the principal that signed in carries
 * it or when the directory the deployment configured says so, never because a request body, a webhook
 * subscription or an operator claimed it. The default is an empty directory (nobody is vouched for).
 *
 * @example
 * ```ts
 * import { Directory, Gatehouse } from "@gatehouse/engine"
 * import { Layer } from "effect"
 *
 * const people = Directory.layer([
 *   {
 *     id: "ana",
 *     name: "Ana Lima",
 *     email: "ana@example.com",
 *     slackId: "U024BE7LH",
 *     roles: ["finance"],
 *     chatWebhooks: ["https://hooks.slack.com/services/T000/B000/XXXX"]
 *   }
 * ])
 * // or from GATEHOUSE_DIRECTORY (JSON) / GATEHOUSE_DIRECTORY_FILE (a JSON file): Directory.layerConfig
 * ```
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"

const Name = Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(200))

/**
 * One person the deployment knows.
 *
 * @since 0.1.0
 * @category models
 */
export class Person extends Schema.Class<Person>("@gatehouse/engine/Directory/Person")({
  id: Name,
  name: Schema.optional(Name),
  email: Schema.optional(Schema.String.pipe(Schema.maxLength(320))),
  /** The person's chat user id (Slack's `U…`). */
  slackId: Schema.optional(Schema.String.pipe(Schema.maxLength(100))),
  /** The roles the deployment gives this person, e.g. `finance`. */
  roles: Schema.optionalWith(
    Schema.Array(Schema.NonEmptyTrimmedString.pipe(Schema.maxLength(100))).pipe(Schema.maxItems(50)),
    { default: () => [] }
  ),
  /** An IANA time zone such as `Europe/Lisbon`. */
  timeZone: Schema.optional(Schema.String.pipe(Schema.maxLength(100))),
  /**
   * The chat destinations (incoming-webhook URLs) that reach this person alone. One-click decision links
   * for them are sent only there: a webhook subscription naming this person with another URL gets "Open in
   * inbox" links, so whoever creates subscriptions cannot have someone else's links sent to themselves.
   */
  chatWebhooks: Schema.optionalWith(
    Schema.Array(Schema.String.pipe(Schema.maxLength(2048), Schema.filter((url) => canonicalUrl(url) !== undefined, {
      message: () => "not an http(s) URL"
    }))).pipe(Schema.maxItems(20)),
    { default: () => [] }
  )
}) {}

/**
 * A URL as compared with a person's `chatWebhooks` (the WHATWG serialization), or undefined when it is not
 * an http(s) URL.
 *
 * @since 0.1.0
 * @category models
 */
export const canonicalUrl = (url: string): string | undefined => {
  try {
    const parsed = new URL(url)
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : undefined
  } catch {
    return undefined
  }
}

/**
 * Whether one-click links for this person may be sent to this destination: it is one of their
 * `chatWebhooks`.
 *
 * @since 0.1.0
 * @category models
 */
export const reaches = (person: Person, url: string): boolean => {
  const target = canonicalUrl(url)
  return target !== undefined && person.chatWebhooks.some((own) => canonicalUrl(own) === target)
}

/**
 * A directory as configured: a list of people, each id once.
 *
 * @since 0.1.0
 * @category models
 */
export const People: Schema.Schema<ReadonlyArray<Person>, ReadonlyArray<typeof Person.Encoded>> = Schema.Array(
  Person
).pipe(
  Schema.filter((people) => {
    const seen = new Set<string>()
    for (const person of people) {
      if (seen.has(person.id)) return `the person ${person.id} is listed twice`
      seen.add(person.id)
    }
    return true
  })
)

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly people: ReadonlyArray<Person>
  /** The person with this id, if the directory knows them. */
  readonly find: (id: string) => Effect.Effect<Option.Option<Person>>
}

/**
 * A directory over a fixed list of people.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (people: ReadonlyArray<Person>): Service => {
  const byId = new Map(people.map((person) => [person.id, person] as const))
  return { people, find: (id) => Effect.sync(() => Option.fromNullable(byId.get(id))) }
}

/**
 * The directory in force: the one a layer provides, or an empty one (nobody is vouched for).
 *
 * @since 0.1.0
 * @category tags
 */
export class Directory extends Context.Reference<Directory>()("@gatehouse/engine/Directory", {
  defaultValue: (): Service => make([])
}) {}

/**
 * Decodes a list of people (as JSON values), naming the first wrong field.
 *
 * @since 0.1.0
 * @category constructors
 */
export const decode = (input: unknown): Either.Either<ReadonlyArray<Person>, string> =>
  Schema.decodeUnknownEither(People)(input, { onExcessProperty: "error" }).pipe(
    Either.mapLeft((error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      return issue === undefined ? error.message : `${issue.path.join(".") || "people"}: ${issue.message}`
    })
  )

/**
 * A directory of the people given (validated: a wrong entry fails the layer).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (people: ReadonlyArray<typeof Person.Encoded>): Layer.Layer<never, ConfigError.ConfigError> =>
  Either.match(decode(people), {
    onLeft: (reason) => Layer.fail(ConfigError.InvalidData(["directory"], reason)),
    onRight: (decoded) => Layer.succeed(Directory, make(decoded))
  })

/**
 * The directory from `GATEHOUSE_DIRECTORY` (a JSON array of people) or `GATEHOUSE_DIRECTORY_FILE` (a file
 * holding that JSON); neither set, the empty directory. A malformed one fails the layer naming the field.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: Layer.Layer<never, ConfigError.ConfigError> = Layer.unwrapEffect(
  Effect.gen(function*() {
    const inline = yield* Config.option(Config.string("GATEHOUSE_DIRECTORY"))
    const file = yield* Config.option(Config.string("GATEHOUSE_DIRECTORY_FILE"))
    const source = Option.isSome(inline)
      ? Option.some({ path: "GATEHOUSE_DIRECTORY", text: Either.right(inline.value) })
      : Option.map(file, (path) => ({
        path: "GATEHOUSE_DIRECTORY_FILE",
        text: Either.try({ try: () => fs.readFileSync(path, "utf8"), catch: (error) => String(error) })
      }))
    if (Option.isNone(source)) return Layer.empty
    const { path, text } = source.value
    if (Either.isLeft(text)) return Layer.fail(ConfigError.InvalidData([path], `cannot read: ${text.left}`))
    const json = Either.try(() => JSON.parse(text.right) as unknown)
    if (Either.isLeft(json)) return Layer.fail(ConfigError.InvalidData([path], "not JSON"))
    return Either.match(decode(json.right), {
      onLeft: (reason) => Layer.fail(ConfigError.InvalidData([path], reason)),
      onRight: (people) => Layer.succeed(Directory, make(people))
    })
  })
)
