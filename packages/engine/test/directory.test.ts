import { assert, describe, it } from "@effect/vitest"
import { Directory } from "@gatehouse/engine"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

const fromEnv = (env: Record<string, string>) =>
  Directory.layerConfig.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))))

const find = (id: string) => Effect.flatMap(Directory.Directory, (directory) => directory.find(id))

describe("Directory (issue 19: the only source of a link recipient's roles besides a principal)", () => {
  it.effect("empty by default: nobody is vouched for", () =>
    Effect.gen(function*() {
      assert.isTrue(Option.isNone(yield* find("ghost")))
      assert.deepStrictEqual((yield* Directory.Directory).people, [])
    }))

  it.effect("from GATEHOUSE_DIRECTORY: people with their roles (none when not given)", () =>
    Effect.gen(function*() {
      const grace = yield* find("grace")
      assert.deepStrictEqual(Option.map(grace, (p) => [p.id, p.roles, p.slackId]), Option.some(["grace", ["finance"], "U1"]))
      assert.deepStrictEqual(Option.map(yield* find("ana"), (p) => p.roles), Option.some([]))
      assert.isTrue(Option.isNone(yield* find("ghost")))
    }).pipe(Effect.provide(fromEnv({
      GATEHOUSE_DIRECTORY: JSON.stringify([{ id: "grace", roles: ["finance"], slackId: "U1" }, { id: "ana" }])
    }))))

  it("links reach a person only at their own chat destinations, compared in WHATWG form", () => {
    const [grace] = Either.getOrThrow(Directory.decode([{ id: "grace", chatWebhooks: ["https://Hooks.Example.com:443/g"] }]))
    assert.isTrue(Directory.reaches(grace, "https://hooks.example.com/g"))
    assert.isFalse(Directory.reaches(grace, "https://hooks.example.com/g/other"))
    assert.isFalse(Directory.reaches(grace, "https://attacker.example.net/g"))
    const [nobody] = Either.getOrThrow(Directory.decode([{ id: "nobody" }]))
    assert.isFalse(Directory.reaches(nobody, "https://hooks.example.com/g"))
  })

  it.effect("a malformed directory fails the layer naming the field; a person listed twice too", () =>
    Effect.gen(function*() {
      const check = (env: Record<string, string>, expected: RegExp) =>
        Effect.gen(function*() {
          const exit = yield* Effect.exit(Layer.build(fromEnv(env)).pipe(Effect.scoped))
          assert.isTrue(Exit.isFailure(exit))
          assert.match(String(Exit.isFailure(exit) ? exit.cause : ""), expected)
        })
      yield* check({ GATEHOUSE_DIRECTORY: JSON.stringify([{ id: "a", roles: "finance" }]) }, /roles/)
      yield* check({ GATEHOUSE_DIRECTORY: JSON.stringify([{ id: "a", admin: true }]) }, /admin/)
      yield* check({ GATEHOUSE_DIRECTORY: JSON.stringify([{ id: "a" }, { id: "a" }]) }, /listed twice/)
      yield* check({ GATEHOUSE_DIRECTORY: JSON.stringify([{ id: "a", chatWebhooks: ["ftp://x/y"] }]) }, /chatWebhooks/)
      yield* check({ GATEHOUSE_DIRECTORY: "[{" }, /not JSON/)
      yield* check({ GATEHOUSE_DIRECTORY_FILE: "/nonexistent/people.json" }, /cannot read/)
    }))
})
