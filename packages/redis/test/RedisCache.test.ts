import { assert, describe, it } from "@effect/vitest"
import { Cache, LLMError } from "@fastllm/core"
import { cacheContract, chatResponse } from "@fastllm/core/testing"
import { RedisCache, RedisConnection } from "@fastllm/redis"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { connection, connectionLayer, freshPrefix } from "./fixtures/redis.js"

cacheContract("RedisCache", (options) => RedisCache.layer(options).pipe(Layer.provide(connectionLayer())))

/** Two caches on one prefix, as two worker processes would have (each with its own connection). */
const twoCaches = (options: RedisCache.Options = {}) =>
  Effect.gen(function*() {
    const prefix = freshPrefix()
    const a = yield* Effect.provideServiceEffect(RedisCache.make(options), RedisConnection.RedisConnection, connection(prefix))
    const b = yield* Effect.provideServiceEffect(RedisCache.make(options), RedisConnection.RedisConnection, connection(prefix))
    return { a, b, prefix }
  })

describe("RedisCache", () => {
  it.live("a miss claims the key: another process waits and gets the answer once it is set", () =>
    Effect.scoped(Effect.gen(function*() {
      const { a, b } = yield* twoCaches()
      assert.isTrue(Option.isNone(yield* a.get("k")), "a misses and claims")
      const waiting = yield* Effect.fork(b.get("k"))
      yield* Effect.sleep("150 millis")
      assert.isNull(yield* Fiber.poll(waiting).pipe(Effect.map(Option.getOrNull)), "b waits while a holds the claim")
      yield* a.set("k", chatResponse("k"))
      assert.deepStrictEqual(yield* Fiber.join(waiting), Option.some(chatResponse("k")))
    })))

  it.live("a released claim passes to the waiting process, which then computes itself", () =>
    Effect.scoped(Effect.gen(function*() {
      const { a, b } = yield* twoCaches()
      yield* a.get("k")
      const waiting = yield* Effect.fork(b.get("k"))
      yield* Effect.sleep("100 millis")
      yield* (a.release ?? (() => Effect.void))("k")
      assert.isTrue(Option.isNone(yield* Fiber.join(waiting)), "b now holds the claim: a miss")
      // and a is the one waiting now
      const aWaits = yield* Effect.fork(a.get("k"))
      yield* b.set("k", chatResponse("from-b"))
      assert.deepStrictEqual(yield* Fiber.join(aWaits), Option.some(chatResponse("from-b")))
    })))

  it.live("the claim of a dead holder expires after its lease and another process takes over", () =>
    Effect.scoped(Effect.gen(function*() {
      const prefix = freshPrefix()
      const b = yield* Effect.provideServiceEffect(
        RedisCache.make({ lease: "300 millis" }),
        RedisConnection.RedisConnection,
        connection(prefix)
      )
      // a holder that dies: its scope (connection and renewal fiber) closes with the claim held
      yield* Effect.scoped(Effect.gen(function*() {
        const a = yield* Effect.provideServiceEffect(
          RedisCache.make({ lease: "300 millis" }),
          RedisConnection.RedisConnection,
          RedisConnection.make({ url: "redis://127.0.0.1:6379", prefix })
        )
        assert.isTrue(Option.isNone(yield* a.get("k")))
      }))
      const started = Date.now()
      assert.isTrue(Option.isNone(yield* b.get("k")), "b takes the key over")
      const waited = Date.now() - started
      assert.isAtLeast(waited, 100)
      assert.isBelow(waited, 3_000)
    })))

  it.live("a holder renews its claim for as long as it computes", () =>
    Effect.scoped(Effect.gen(function*() {
      const { a, b } = yield* twoCaches({ lease: "300 millis" })
      yield* a.get("k")
      const waiting = yield* Effect.fork(b.get("k"))
      yield* Effect.sleep("1 second") // three leases
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiting)), "still waiting: the claim was renewed")
      yield* a.set("k", chatResponse("late"))
      assert.deepStrictEqual(yield* Fiber.join(waiting), Option.some(chatResponse("late")))
    })))

  it.live("without claims a miss is a plain miss for everyone", () =>
    Effect.scoped(Effect.gen(function*() {
      const { a, b } = yield* twoCaches({ claims: false })
      assert.isTrue(Option.isNone(yield* a.get("k")))
      assert.isTrue(Option.isNone(yield* b.get("k")))
    })))

  it.live("values carry a Redis expiry", () =>
    Effect.scoped(Effect.gen(function*() {
      const prefix = freshPrefix()
      const conn = yield* connection(prefix)
      const cache = yield* Effect.provideService(RedisCache.make(), RedisConnection.RedisConnection, conn)
      yield* cache.set("short", chatResponse("s"), { timeToLive: "2 seconds" })
      yield* cache.set("forever", chatResponse("f"))
      const ttl = (key: string) => conn.use("pttl", (client) => client.pttl(`${prefix}cache:${key}`))
      const short = yield* ttl("short")
      assert.isAbove(short, 1_000)
      assert.isAtMost(short, 2_000)
      assert.strictEqual(yield* ttl("forever"), -1)
    })))

  it.live("an unreachable server is a RedisError naming the URL without its password", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.scoped(
        RedisConnection.make({ url: Redacted.make("redis://user:s3cret-pw@127.0.0.1:1/0"), connectTimeout: "2 seconds" })
      ).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(exit))
      const error = yield* Effect.flip(Effect.scoped(
        RedisConnection.make({ url: Redacted.make("redis://user:s3cret-pw@127.0.0.1:1/0"), connectTimeout: "2 seconds" })
      ))
      assert.instanceOf(error, RedisConnection.RedisError)
      assert.include(error.message, "redis://user:***@127.0.0.1:1/0")
      assert.notInclude(error.message, "s3cret")
      assert.notInclude(JSON.stringify(error), "s3cret")
    }))

  it.live("a failing server makes cache operations fail with a CacheError naming the server", () =>
    Effect.scoped(Effect.gen(function*() {
      const conn = yield* connection()
      const cache = yield* Effect.provideService(RedisCache.make(), RedisConnection.RedisConnection, conn)
      conn.client.disconnect()
      const error = yield* Effect.flip(cache.get("k"))
      assert.instanceOf(error, LLMError.CacheError)
      assert.include(error.message, "127.0.0.1:6379")
      // the core's Cache tag is what it provides
      const context = yield* Layer.build(RedisCache.layer().pipe(Layer.provide(connectionLayer())))
      const viaLayer = Context.get(context, Cache.Cache)
      assert.isTrue(Option.isNone(yield* viaLayer.get("absent")))
    })))
})
