/**
 * One-line set-ups: the SQL client, the engine's migrations, the `Workflows` client, the registry and
 * a runner, on the embedded SQLite default or on PostgreSQL, from code or from `Config`; client-only
 * layers; and `runMain`, the entry of a long-lived runner process.
 *
 * @since 0.1.0
 */
import type { MigrationError } from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as path from "node:path"
import * as ActionLinks from "./ActionLinks.js"
import * as Approvals from "./Approvals.js"
import * as Audit from "./Audit.js"
import * as Policies from "./Policies.js"
import * as PgSchemas from "./internal/storage/pgSchemas.js"
import * as Events from "./Events.js"
import * as Health from "./Health.js"
import * as Migrations from "./Migrations.js"
import * as Runner from "./Runner.js"
import * as Webhooks from "./Webhooks.js"
import * as WorkflowRegistry from "./WorkflowRegistry.js"
import * as Workflows from "./Workflows.js"

/**
 * What the convenience layers provide.
 *
 * @since 0.1.0
 * @category models
 */
export type Services =
  | SqlClient.SqlClient
  | Workflows.Workflows
  | Approvals.Approvals
  | ActionLinks.ActionLinks
  | Policies.Policies
  | Events.Events
  | Audit.Audit
  | Health.Health
  | Webhooks.Webhooks
  | WorkflowRegistry.WorkflowRegistry
  | Runner.Runner

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<E, R> extends Runner.RunnerOptions {
  /** Workflow implementations (`MyWorkflow.toLayer(...)`) this process executes. */
  readonly workflows?: Layer.Layer<never, E, R> | undefined
}

const approvalsAndLinks = ActionLinks.layer.pipe(Layer.provideMerge(Approvals.layer))

/** The engine's client services, without migrations: what `layerClient` provides and `layer` runs beside. */
const clientServices = Layer.mergeAll(
  Workflows.layer,
  approvalsAndLinks,
  Policies.layer,
  Events.layer,
  Audit.layer,
  Health.layer,
  Webhooks.layer
)

/**
 * The engine on the SQL client in context: migrations, then the client, the registry and a runner for
 * the workflows given.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E = never, R = never>(
  options: Options<E, R> = {}
): Layer.Layer<
  Exclude<Services, SqlClient.SqlClient>,
  E | MigrationError | SqlError | Runner.InvalidRunnerOptions,
  SqlClient.SqlClient | Exclude<R, Services>
> => {
  const engine = Runner.layer(options).pipe(
    Layer.provideMerge(Layer.merge(clientServices, WorkflowRegistry.layer)),
    Layer.provide(Migrations.layer)
  )
  const workflows = (options.workflows ?? Layer.empty) as Layer.Layer<never, E, R>
  return Layer.provideMerge(workflows, engine) as any
}

/**
 * Only the engine's client services on the SQL client in context, with the engine's migrations: for
 * processes that start, decide and read runs without executing them. It provides exactly `Workflows`,
 * `Approvals`, `ActionLinks`, `Policies`, `Events`, `Audit`, `Health` and `Webhooks` (no runner, no
 * registry). The SQL client itself comes from `layerSqlClientSqlite` / `layerSqlClientPg` (or
 * `layerClientSqlite` / `layerClientPg`, which build both).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient: Layer.Layer<
  | Workflows.Workflows
  | Approvals.Approvals
  | ActionLinks.ActionLinks
  | Policies.Policies
  | Events.Events
  | Audit.Audit
  | Health.Health
  | Webhooks.Webhooks,
  MigrationError | SqlError,
  SqlClient.SqlClient
> = clientServices.pipe(Layer.provide(Migrations.layer))

/**
 * The embedded default: SQLite in a file (WAL), or `:memory:`.
 *
 * @example
 * ```ts
 * import { Gatehouse } from "@gatehouse/engine"
 *
 * const MainLive = Gatehouse.layerSqlite({ filename: "gatehouse.db", workflows: RefundReviewLive })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSqlite = <E = never, R = never>(
  options: Options<E, R> & { readonly filename: string }
): Layer.Layer<
  Services,
  E | MigrationError | SqlError | DatabaseOpenError | Runner.InvalidRunnerOptions,
  Exclude<R, Services>
> =>
  Layer.provideMerge(layer(options), layerSqlClientSqlite(options.filename)) as any

/**
 * PostgreSQL, for many runners on many machines sharing one database.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerPg = <E = never, R = never>(
  options: Options<E, R> & PgOptions
): Layer.Layer<
  Services,
  E | MigrationError | SqlError | ConfigError.ConfigError | Runner.InvalidRunnerOptions,
  Exclude<R, Services>
> =>
  Layer.provideMerge(layer(options), layerSqlClientPg(options)) as any

/**
 * Where the engine's tables live on PostgreSQL.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgOptions {
  readonly url: string
  readonly maxConnections?: number | undefined
  /**
   * The schema the engine's tables (and its migrations table) live in, created if missing; every
   * connection of the client gets it as its `search_path`. Default: the server's (usually `public`).
   */
  readonly schema?: string | undefined
}

/**
 * The SQLite database file could not be opened for writing: its directory does not exist, it is not a
 * directory, or the file or directory cannot be written.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseOpenError extends Schema.TaggedError<DatabaseOpenError>("@gatehouse/engine/DatabaseOpenError")(
  "DatabaseOpenError",
  {
    path: Schema.String,
    reason: Schema.String
  }
) {
  override get message(): string {
    return `Cannot open the Gatehouse database ${this.path}: ${this.reason}`
  }
}

const checkSqlitePath = (filename: string): Effect.Effect<void, DatabaseOpenError> =>
  Effect.suspend(() => {
    if (filename === "" || filename === ":memory:" || filename.startsWith("file:")) return Effect.void
    const fail = (reason: string) => Effect.fail(new DatabaseOpenError({ path: filename, reason }))
    const directory = path.dirname(path.resolve(filename))
    let stat: fs.Stats
    try {
      stat = fs.statSync(directory)
    } catch (error) {
      return fail(`its directory ${directory} does not exist (${(error as NodeJS.ErrnoException).code ?? error})`)
    }
    if (!stat.isDirectory()) return fail(`${directory} is not a directory`)
    const target = fs.existsSync(filename) ? filename : directory
    try {
      fs.accessSync(target, fs.constants.R_OK | fs.constants.W_OK)
    } catch (error) {
      return fail(`${target} is not writable (${(error as NodeJS.ErrnoException).code ?? error})`)
    }
    return Effect.void
  })

/** How long a statement on a SQLite file waits for another connection's write lock. */
const sqliteBusyTimeoutMillis = 30_000

/**
 * A SQL client (`SqlClient`, `SqliteClient`) on a SQLite file (WAL) or `:memory:`, failing with
 * `DatabaseOpenError` (the path and the reason) when the file cannot be opened for writing. Only the
 * database connection: the engine's services come from `layer` or `layerClient` on top of it.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerSqlClientSqlite = (
  filename: string
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, DatabaseOpenError> =>
  Layer.unwrapEffect(
    Effect.as(checkSqlitePath(filename), SqliteClient.layer({ filename }))
  ).pipe(
    // Another process (a worker, the CLI) may hold the file's write lock; on a busy machine a commit can take
    // longer than better-sqlite3's default 5 s wait, and a decision must wait for the lock, not fail.
    // (A PRAGMA takes no bound parameters: the number is written into the statement.)
    Layer.tap((context) =>
      Context.get(context, SqlClient.SqlClient).unsafe(`PRAGMA busy_timeout = ${sqliteBusyTimeoutMillis}`)
    ),
    Layer.catchAllCause((cause) => {
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure) && failure.value instanceof DatabaseOpenError) return Layer.fail(failure.value)
      const error = Cause.squash(cause)
      return Layer.fail(
        new DatabaseOpenError({ path: filename, reason: error instanceof Error ? error.message : String(error) })
      )
    })
  )


/**
 * A SQL client (`SqlClient`, `PgClient`) on PostgreSQL; with `schema`, every connection uses that schema
 * (`search_path`), created if missing. Only the database connection: the engine's services come from
 * `layer` or `layerClient` on top of it.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerSqlClientPg = (
  options: PgOptions
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, SqlError | ConfigError.ConfigError> => {
  const schema = options.schema
  let url = options.url
  if (schema !== undefined) {
    if (!PgSchemas.isIdentifier(schema)) {
      return Layer.fail(ConfigError.InvalidData(
        ["schema"],
        `the PostgreSQL schema must be a plain identifier (letters, digits, _), got ${JSON.stringify(schema)}`
      ))
    }
    const parsed = new URL(url)
    parsed.searchParams.set("options", `-c search_path=${schema}`)
    url = parsed.toString()
  }
  const client = PgClient.layer({
    url: Redacted.make(url),
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {})
  })
  if (schema === undefined) return client
  return Layer.tap(client, (context) =>
    PgSchemas.create(Context.get(context, SqlClient.SqlClient), schema, { ifNotExists: true }).pipe(
      // Two processes creating it at once: one of them gets a unique violation; the schema exists then.
      Effect.retry({ times: 2 })
    ))
}

/**
 * @deprecated Renamed `layerSqlClientSqlite` (a SQL client, not the engine's client services).
 * @since 0.1.0
 * @category layers
 */
export const layerSqliteClient: typeof layerSqlClientSqlite = layerSqlClientSqlite

/**
 * @deprecated Renamed `layerSqlClientPg` (a SQL client, not the engine's client services).
 * @since 0.1.0
 * @category layers
 */
export const layerPgClient: typeof layerSqlClientPg = layerSqlClientPg

/**
 * The database a `GATEHOUSE_DATABASE_URL` names.
 *
 * @since 0.1.0
 * @category models
 */
export type Database =
  | { readonly _tag: "Pg"; readonly url: string }
  | { readonly _tag: "Sqlite"; readonly filename: string }

/**
 * Reads a database URL: `postgres://…` / `postgresql://…` is PostgreSQL; `sqlite:<path>`,
 * `sqlite://<path>` (so `sqlite:///abs/path.db`) or a plain path is a SQLite file (`:memory:` too).
 *
 * @since 0.1.0
 * @category config
 */
export const parseDatabaseUrl = (url: string): Database => {
  if (/^postgres(ql)?:\/\//i.test(url)) return { _tag: "Pg", url }
  if (/^sqlite:/i.test(url)) {
    const rest = url.slice("sqlite:".length)
    return { _tag: "Sqlite", filename: rest.startsWith("//") ? rest.slice(2) : rest }
  }
  return { _tag: "Sqlite", filename: url }
}

/**
 * What `layerConfig` reads, under the `GATEHOUSE_` prefix of the environment (`ConfigProvider.fromEnv`):
 * `GATEHOUSE_DATABASE_URL` (required), `GATEHOUSE_PG_SCHEMA`, `GATEHOUSE_PG_MAX_CONNECTIONS`,
 * `GATEHOUSE_CONCURRENCY`, `GATEHOUSE_POLL_INTERVAL`, `GATEHOUSE_LEASE_DURATION`,
 * `GATEHOUSE_LEASE_RENEW_INTERVAL` (durations such as `30 seconds`) and `GATEHOUSE_RUNNER_ID`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<{
  readonly database: Database
  readonly schema: Option.Option<string>
  readonly maxConnections: Option.Option<number>
  readonly concurrency: Option.Option<number>
  readonly pollInterval: Option.Option<Duration.Duration>
  readonly leaseDuration: Option.Option<Duration.Duration>
  readonly leaseRenewInterval: Option.Option<Duration.Duration>
  readonly runnerId: Option.Option<string>
}> = Config.all({
  database: Config.map(Config.nonEmptyString("DATABASE_URL"), parseDatabaseUrl),
  schema: Config.option(Config.string("PG_SCHEMA").pipe(
    Config.validate({ message: "a plain identifier (letters, digits, _)", validation: (s) => PgSchemas.isIdentifier(s) })
  )),
  maxConnections: Config.option(Config.integer("PG_MAX_CONNECTIONS")),
  concurrency: Config.option(Config.integer("CONCURRENCY")),
  pollInterval: Config.option(Config.duration("POLL_INTERVAL")),
  leaseDuration: Config.option(Config.duration("LEASE_DURATION")),
  leaseRenewInterval: Config.option(Config.duration("LEASE_RENEW_INTERVAL")),
  runnerId: Config.option(Config.string("RUNNER_ID"))
}).pipe(Config.nested("GATEHOUSE"))

type Loaded = Config.Config.Success<typeof config>

const definedOnly = <A extends object>(record: A): A =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as A

const fromConfig = (loaded: Loaded) =>
  definedOnly({
    schema: Option.getOrUndefined(loaded.schema),
    maxConnections: Option.getOrUndefined(loaded.maxConnections),
    concurrency: Option.getOrUndefined(loaded.concurrency),
    pollInterval: Option.getOrUndefined(loaded.pollInterval),
    leaseDuration: Option.getOrUndefined(loaded.leaseDuration),
    leaseRenewInterval: Option.getOrUndefined(loaded.leaseRenewInterval),
    runnerId: Option.getOrUndefined(loaded.runnerId)
  })

/**
 * The engine on the database `GATEHOUSE_DATABASE_URL` names (PostgreSQL or a SQLite file), with the
 * runner options from `Config` (see `config`); options given here win over the environment.
 *
 * @example
 * ```ts
 * import { Gatehouse } from "@gatehouse/engine"
 *
 * // GATEHOUSE_DATABASE_URL=postgres://app@db:5432/app GATEHOUSE_PG_SCHEMA=gatehouse GATEHOUSE_CONCURRENCY=32
 * Gatehouse.runMain(Gatehouse.layerConfig({ workflows: RefundReviewLive }))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = <E = never, R = never>(
  options: Options<E, R> & { readonly schema?: string | undefined; readonly maxConnections?: number | undefined } = {}
): Layer.Layer<
  Services,
  E | MigrationError | SqlError | ConfigError.ConfigError | DatabaseOpenError | Runner.InvalidRunnerOptions,
  Exclude<R, Services>
> =>
  Layer.unwrapEffect(Effect.map(config, (loaded) => {
    const merged = { ...fromConfig(loaded), ...definedOnly(options) }
    return loaded.database._tag === "Pg"
      ? layerPg({ ...merged, url: loaded.database.url }) as Layer.Layer<Services, any, any>
      : layerSqlite({ ...merged, filename: loaded.database.filename }) as Layer.Layer<Services, any, any>
  }))

/**
 * What the client-only layers provide.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientServices =
  | SqlClient.SqlClient
  | Workflows.Workflows
  | Approvals.Approvals
  | ActionLinks.ActionLinks
  | Policies.Policies
  | Events.Events
  | Audit.Audit
  | Health.Health
  | Webhooks.Webhooks

/**
 * The client side on its own SQLite file: start, decide, read and cancel runs that runners elsewhere
 * execute (the runners must use the same file, on the same machine).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClientSqlite = (options: {
  readonly filename: string
}): Layer.Layer<ClientServices, MigrationError | SqlError | DatabaseOpenError> =>
  Layer.provideMerge(layerClient, layerSqlClientSqlite(options.filename))

/**
 * The client side on its own PostgreSQL client: start, decide, read and cancel runs that runners in
 * other processes execute (a decision or a start wakes them through `NOTIFY`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClientPg = (
  options: PgOptions
): Layer.Layer<ClientServices, MigrationError | SqlError | ConfigError.ConfigError> =>
  Layer.provideMerge(layerClient, layerSqlClientPg(options))

/**
 * The client side on the database `GATEHOUSE_DATABASE_URL` names (see `config`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClientConfig: Layer.Layer<
  ClientServices,
  MigrationError | SqlError | ConfigError.ConfigError | DatabaseOpenError
> = Layer.unwrapEffect(Effect.map(config, (loaded) => {
  const merged = fromConfig(loaded)
  return loaded.database._tag === "Pg"
    ? layerClientPg({ ...merged, url: loaded.database.url }) as Layer.Layer<ClientServices, any>
    : layerClientSqlite({ filename: loaded.database.filename }) as Layer.Layer<ClientServices, any>
}))

/**
 * Runs a layer (typically `layerConfig`, `layerPg` or `layerSqlite` with the process's workflows) as the
 * whole life of a process, until SIGTERM or SIGINT. Then it shuts down gracefully: the runner stops
 * claiming, interrupts the runs it executes (each is replayed from its journal later, by any runner) and
 * gives their leases back, and the process exits with code 0. A shutdown that takes longer than
 * `shutdownTimeout` (default 10 seconds), or a second signal, exits at once with code 1; leases not given
 * back then expire after `leaseDuration` and other runners take the runs over. A layer that fails to
 * build (say, an unreachable database) logs the error and exits with code 1.
 *
 * @example
 * ```ts
 * // runner.ts, compiled to runner.js and started with `node runner.js`
 * import { Gatehouse } from "@gatehouse/engine"
 *
 * Gatehouse.runMain(Gatehouse.layerConfig({ workflows: RefundReviewLive }))
 * ```
 *
 * @since 0.1.0
 * @category runtime
 */
export const runMain = <A, E>(
  main: Layer.Layer<A, E, never>,
  options: { readonly shutdownTimeout?: Duration.DurationInput | undefined } = {}
): void => {
  const timeout = Duration.toMillis(Duration.decode(options.shutdownTimeout ?? "10 seconds"))
  const fiber = Effect.runFork(
    Layer.launch(main).pipe(
      Effect.tapErrorCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError("Gatehouse stopped on an error", cause)
      )
    )
  )
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return process.exit(1)
    stopping = true
    Effect.runSync(Effect.logInfo(`Gatehouse received ${signal}: shutting down`))
    setTimeout(() => {
      Effect.runSync(Effect.logWarning(`Gatehouse did not shut down within ${timeout} ms: exiting`))
      process.exit(1)
    }, timeout).unref()
    fiber.unsafeInterruptAsFork(fiber.id())
  }
  process.on("SIGTERM", onSignal)
  process.on("SIGINT", onSignal)
  fiber.addObserver((exit) => {
    process.off("SIGTERM", onSignal)
    process.off("SIGINT", onSignal)
    process.exit(Exit.isSuccess(exit) || Cause.isInterruptedOnly(exit.cause) ? 0 : 1)
  })
}
