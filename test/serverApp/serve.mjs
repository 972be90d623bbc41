// The HTTP API served from an application's own process: @gatehouse/server on the engine (SQLite at
// GATEHOUSE_DATABASE_FILE), on a free port that it prints; stopped by the test with a signal.
import { HttpServer } from "@effect/platform"
import { Gatehouse, Webhooks } from "@gatehouse/engine"
import { Authentication, AuthenticationLive, Server } from "@gatehouse/server"
import { Effect, Layer } from "effect"

const announce = Layer.effectDiscard(
  Effect.gen(function*() {
    const address = (yield* HttpServer.HttpServer).address
    console.log(`listening ${address.port}`)
  })
)

Effect.runFork(Layer.launch(announce.pipe(
  Layer.provideMerge(Server.layer({ port: 0 })),
  Layer.provide(AuthenticationLive.layer(Authentication.AuthConfig.make({ tokens: [] }))),
  Layer.provide(Gatehouse.layerSqlite({ filename: process.env.GATEHOUSE_DATABASE_FILE })),
  Layer.provide(Webhooks.layerConfig)
)))
