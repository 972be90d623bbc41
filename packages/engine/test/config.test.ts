import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import { Gatehouse, Runner, Step, Workflow, Workflows } from "@gatehouse/engine"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { databaseUrl, pgAvailable } from "@gatehouse/test-utils/Database"

const Greet = Workflow.make({
  name: "config-greet",
  payload: Schema.Struct({ name: Schema.String }),
  success: Schema.String,
  idempotencyKey: (payload) => payload.name
})

const GreetLive = Greet.toLayer(({ name }) => Step.run("greet", Effect.succeed(`hello ${name}`), { success: Schema.String }))

const env = (entries: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(entries)), { pathDelim: "_" }))

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "gatehouse-config-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

const flip = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.exit(effect), (exit) =>
    Exit.isFailure(exit) ? Effect.succeed(exit.cause) : Effect.dieMessage("expected a failure"))

describe("Gatehouse.parseDatabaseUrl", () => {
  it("tells PostgreSQL URLs from SQLite paths and sqlite: URLs", () => {
    assert.deepStrictEqual(Gatehouse.parseDatabaseUrl("postgres://u@h:5432/db"), { _tag: "Pg", url: "postgres://u@h:5432/db" })
    assert.deepStrictEqual(Gatehouse.parseDatabaseUrl("postgresql://h/db"), { _tag: "Pg", url: "postgresql://h/db" })
    assert.deepStrictEqual(Gatehouse.parseDatabaseUrl("sqlite:///var/lib/gh.db"), { _tag: "Sqlite", filename: "/var/lib/gh.db" })
    assert.deepStrictEqual(Gatehouse.parseDatabaseUrl("sqlite:data/gh.db"), { _tag: "Sqlite", filename: "data/gh.db" })
    assert.deepStrictEqual(Gatehouse.parseDatabaseUrl("sqlite::memory:"), { _tag: "Sqlite", filename: ":memory:" })
    assert.deepStrictEqual(Gatehouse.parseDatabaseUrl("./gatehouse.db"), { _tag: "Sqlite", filename: "./gatehouse.db" })
  })
})

describe("Gatehouse.layerConfig and the client layers on SQLite", () => {
  it.live("GATEHOUSE_DATABASE_URL names a SQLite file; the runner options come from Config", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "app.db")
      const engine = yield* Layer.build(Gatehouse.layerConfig({ workflows: GreetLive })).pipe(
        env({ GATEHOUSE_DATABASE_URL: `sqlite://${filename}`, GATEHOUSE_RUNNER_ID: "runner-from-config", GATEHOUSE_CONCURRENCY: "4" })
      )
      yield* Effect.gen(function*() {
        assert.strictEqual((yield* Runner.Runner).runnerId, "runner-from-config")
        const runId = yield* Greet.start({ name: "ada" })
        assert.deepStrictEqual(yield* Greet.result(runId), Exit.succeed("hello ada"))
      }).pipe(Effect.provide(engine))
      assert.isTrue(fs.existsSync(filename))
    }).pipe(Effect.scoped))

  it.live("layerClientSqlite brings its own client: it starts a run that a runner on the same file executes", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "shared.db")
      const client = yield* Layer.build(Gatehouse.layerClientSqlite({ filename }))
      const runId = yield* Greet.start({ name: "grace" }).pipe(Effect.provide(client))
      const runner = yield* Layer.build(Gatehouse.layerSqlite({ filename, workflows: GreetLive, pollInterval: "20 millis" }))
      assert.deepStrictEqual(yield* Greet.result(runId).pipe(Effect.provide(runner)), Exit.succeed("hello grace"))
      const run = yield* Effect.flatMap(Workflows.Workflows, (workflows) => workflows.poll(runId)).pipe(Effect.provide(client))
      assert.strictEqual(run.status, "completed")
    }).pipe(Effect.scoped))

  it.live("a SQLite file in a missing directory fails with DatabaseOpenError naming the path and the reason", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "missing", "app.db")
      const cause = yield* flip(Layer.build(Gatehouse.layerSqlite({ filename, workflows: GreetLive })))
      const error = yield* Effect.flip(Effect.failCause(cause))
      assert.instanceOf(error, Gatehouse.DatabaseOpenError)
      const open = error as Gatehouse.DatabaseOpenError
      assert.strictEqual(open.path, filename)
      assert.include(open.reason, "does not exist")
      assert.include(open.message, filename)
    }).pipe(Effect.scoped))

  it.live("a SQLite file whose directory is a regular file fails with DatabaseOpenError (also for the client layer)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      fs.writeFileSync(path.join(dir, "plain-file"), "not a directory")
      const filename = path.join(dir, "plain-file", "app.db")
      const error = yield* Effect.flip(Layer.build(Gatehouse.layerClientSqlite({ filename })))
      assert.strictEqual(error._tag, "DatabaseOpenError")
      const open = error as Gatehouse.DatabaseOpenError
      assert.strictEqual(open.path, filename)
      assert.include(open.reason, "not a directory")
    }).pipe(Effect.scoped))

  it.live("a missing GATEHOUSE_DATABASE_URL is a ConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(Gatehouse.layerConfig({ workflows: GreetLive }))).pipe(env({}))
      assert.strictEqual(error._tag, "ConfigError" as any)
    }).pipe(Effect.scoped))
})

describe.skipIf(!pgAvailable)("Gatehouse.layerConfig and the client layers on PostgreSQL", () => {
  it.live("GATEHOUSE_PG_SCHEMA: the engine's tables live in a schema of the user's naming, created if missing", () =>
    Effect.gen(function*() {
      const schema = `gh_config_${randomUUID().replaceAll("-", "").slice(0, 12)}`
      const admin = Context.get(
        yield* Layer.build(PgClient.layer({ url: Redacted.make(databaseUrl), maxConnections: 1 })),
        SqlClient.SqlClient
      )
      yield* Effect.addFinalizer(() => admin.unsafe(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).pipe(Effect.ignore))
      const engine = yield* Layer.build(Gatehouse.layerConfig({ workflows: GreetLive })).pipe(
        env({ GATEHOUSE_DATABASE_URL: databaseUrl, GATEHOUSE_PG_SCHEMA: schema, GATEHOUSE_PG_MAX_CONNECTIONS: "3" })
      )
      const runId = yield* Greet.start({ name: "pg" }).pipe(Effect.provide(engine))
      assert.deepStrictEqual(yield* Greet.result(runId).pipe(Effect.provide(engine)), Exit.succeed("hello pg"))
      const tables = yield* admin<{ table_name: string }>`SELECT table_name FROM information_schema.tables
        WHERE table_schema = ${schema} ORDER BY table_name`
      const names = tables.map((row) => row.table_name)
      assert.include(names, "gatehouse_runs")
      assert.include(names, "gatehouse_migrations")
      const rows = yield* admin.unsafe<{ id: string }>(`SELECT id FROM ${schema}.gatehouse_runs`)
      assert.deepStrictEqual(rows.map((row) => row.id), [runId])

      // A client-only process on the same schema reads the run.
      const client = yield* Layer.build(Gatehouse.layerClientPg({ url: databaseUrl, schema, maxConnections: 2 }))
      const run = yield* Effect.flatMap(Workflows.Workflows, (workflows) => workflows.poll(runId)).pipe(Effect.provide(client))
      assert.strictEqual(run.status, "completed")
    }).pipe(Effect.scoped))
})
