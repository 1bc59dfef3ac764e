/**
 * The contract every `Cache` backend must meet, as a reusable @effect/vitest suite. A backend's
 * test file calls {@link cacheContract} with a function that builds a fresh layer per test; the
 * suite then checks misses, round trips (unknown fields kept), overwrite, delete, clear, default
 * and per-entry TTL (driven by `TestClock`, so backends must read time from Effect's `Clock`),
 * many keys, long keys and concurrent use.
 *
 * @since 0.1.0
 */
import { assert, describe, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Schema from "effect/Schema"
import { ApiResponse } from "../ApiRequest.js"
import { Cache } from "../Cache.js"

/**
 * What the suite passes to the layer factory: the backend's default expiry, when a test needs one.
 *
 * @since 0.1.0
 * @category models
 */
export interface CacheContractOptions {
  readonly timeToLive?: Duration.DurationInput | undefined
}

/**
 * Builds a fresh `Cache` layer for one test (a new temp dir, a new store). Layer errors and
 * requirements beyond none are the backend's business: the layer must be self-contained.
 *
 * @since 0.1.0
 * @category models
 */
export type MakeCacheLayer = (options: CacheContractOptions) => Layer.Layer<Cache, unknown>

// Fixtures go through the schema, as real responses do: the decoded value carries the unknown fields.
const decodeResponse = Schema.decodeUnknownSync(ApiResponse)

/**
 * A chat response with fields the schema does not know, at every level.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const chatResponse = (id: string, content = `answer ${id}`): ApiResponse =>
  decodeResponse({
  _tag: "Chat",
  response: {
    id,
    object: "chat.completion",
    created: 1_700_000_000,
    model: "gpt-4o-mini",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content, refusal: null, vendor_note: { kept: [1, "two", null] } },
        finish_reason: "stop",
        logprobs: null,
        vendor_choice_field: true
      }
    ],
    usage: {
      prompt_tokens: 12,
      completion_tokens: 5,
      total_tokens: 17,
      prompt_tokens_details: { cached_tokens: 0, vendor_detail: 3 }
    },
    system_fingerprint: "fp_123",
    provider_extra: { nested: { deep: ["x", 1.5, false] }, unicode: "héllo ✓ 日本" }
  }
  })

/**
 * An embeddings response with an unknown field.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const embeddingResponse = (seed: number): ApiResponse =>
  decodeResponse({
  _tag: "Embedding",
  response: {
    object: "list",
    data: [
      { object: "embedding", index: 0, embedding: [seed, 0.25, -1.5, 3.0e-7] },
      { object: "embedding", index: 1, embedding: "AACAPwAAAEA=" }
    ],
    model: "text-embedding-3-small",
    usage: { prompt_tokens: 4, total_tokens: 4 },
    vendor_embedding_field: { id: seed }
  }
  })

const getSome = (key: string) =>
  Effect.flatMap(Cache, (cache) => cache.get(key)).pipe(
    Effect.map((found) => {
      assert.isTrue(Option.isSome(found), `expected an entry under ${key}`)
      return Option.getOrThrow(found)
    })
  )

const assertMiss = (key: string) =>
  Effect.flatMap(Cache, (cache) => cache.get(key)).pipe(
    Effect.map((found) => assert.isTrue(Option.isNone(found), `expected no entry under ${key}`))
  )

/**
 * Declares the contract suite for one backend: a `describe(name)` block of tests, each run on a
 * fresh layer from `makeLayer`.
 *
 * @example
 * ```ts
 * import { Cache } from "@fastllm/core"
 * import { cacheContract } from "@fastllm/core/testing"
 *
 * cacheContract("Cache.memory", (options) => Cache.memory(options))
 * ```
 *
 * @since 0.1.0
 * @category suites
 */
export const cacheContract = (name: string, makeLayer: MakeCacheLayer): void => {
  const test = <A, E>(
    title: string,
    body: Effect.Effect<A, E, Cache>,
    options: CacheContractOptions = {}
  ): void => {
    it.effect(title, () => Effect.asVoid(body.pipe(Effect.provide(makeLayer(options)))))
  }

  describe(`${name} (cache contract)`, () => {
    test(
      "get of an absent key is none",
      Effect.gen(function*() {
        yield* assertMiss("absent")
        yield* assertMiss("")
      })
    )

    test(
      "set then get returns a chat response with unknown fields preserved",
      Effect.gen(function*() {
        const cache = yield* Cache
        const value = chatResponse("chat-1")
        yield* cache.set("k-chat", value)
        const found = yield* getSome("k-chat")
        assert.deepStrictEqual(found, value)
        for (const field of ["vendor_note", "vendor_choice_field", "vendor_detail", "provider_extra", "日本"]) {
          assert.include(JSON.stringify(found), field)
        }
        // a second read gives the same answer
        assert.deepStrictEqual(yield* getSome("k-chat"), value)
      })
    )

    test(
      "set then get returns an embedding response with unknown fields preserved",
      Effect.gen(function*() {
        const cache = yield* Cache
        const value = embeddingResponse(0.5)
        yield* cache.set("k-embedding", value)
        const found = yield* getSome("k-embedding")
        assert.deepStrictEqual(found, value)
        assert.include(JSON.stringify(found), "vendor_embedding_field")
      })
    )

    test(
      "set overwrites an existing entry",
      Effect.gen(function*() {
        const cache = yield* Cache
        yield* cache.set("k", chatResponse("first"))
        yield* cache.set("k", chatResponse("second"))
        assert.deepStrictEqual(yield* getSome("k"), chatResponse("second"))
      })
    )

    test(
      "unsafeGet, where offered, answers as get does (hit, absent, expired: none or left to get)",
      Effect.gen(function*() {
        const cache = yield* Cache
        const unsafeGet = cache.unsafeGet
        if (unsafeGet === undefined) return
        yield* cache.set("k", chatResponse("k"), { timeToLive: Duration.seconds(60) })
        yield* cache.set("e", embeddingResponse(2))
        const now = yield* Clock.currentTimeMillis
        assert.deepStrictEqual(unsafeGet("k", now), Option.some(chatResponse("k")))
        assert.deepStrictEqual(unsafeGet("e", now), Option.some(embeddingResponse(2)))
        assert.deepStrictEqual(unsafeGet("absent", now), Option.none())
        yield* TestClock.adjust(Duration.seconds(61))
        const expired = unsafeGet("k", yield* Clock.currentTimeMillis)
        assert.isTrue(expired === undefined || Option.isNone(expired), "an expired entry is no hit")
        yield* assertMiss("k")
      })
    )

    test(
      "getMany, where offered, answers as get does, in order (hit, or none / left to get)",
      Effect.gen(function*() {
        const cache = yield* Cache
        const getMany = cache.getMany
        if (getMany === undefined) return
        yield* cache.set("k", chatResponse("k"), { timeToLive: Duration.seconds(60) })
        yield* cache.set("e", embeddingResponse(2))
        const now = yield* Clock.currentTimeMillis
        const found = yield* getMany(["e", "absent", "k"], now)
        assert.strictEqual(found.length, 3)
        assert.deepStrictEqual(found[0], Option.some(embeddingResponse(2)))
        assert.isTrue(found[1] === undefined || Option.isNone(found[1]!), "an absent key is no hit")
        assert.deepStrictEqual(found[2], Option.some(chatResponse("k")))
        const many = Array.from({ length: 1_200 }, (_, i) => `k${i}`)
        for (const key of many.slice(0, 600)) yield* cache.set(key, chatResponse(key))
        const all = yield* getMany(many, yield* Clock.currentTimeMillis)
        assert.strictEqual(all.length, 1_200)
        assert.deepStrictEqual(all[599], Option.some(chatResponse("k599")))
        assert.isTrue(all[600] === undefined || Option.isNone(all[600]!))
        yield* TestClock.adjust(Duration.seconds(61))
        const expired = (yield* getMany(["k"], yield* Clock.currentTimeMillis))[0]
        assert.isTrue(expired === undefined || Option.isNone(expired), "an expired entry is no hit")
      })
    )

    test(
      "delete removes one entry and tolerates an absent key",
      Effect.gen(function*() {
        const cache = yield* Cache
        yield* cache.set("a", chatResponse("a"))
        yield* cache.set("b", chatResponse("b"))
        yield* cache.delete("a")
        yield* cache.delete("never-set")
        yield* assertMiss("a")
        assert.deepStrictEqual(yield* getSome("b"), chatResponse("b"))
      })
    )

    test(
      "clear removes every entry and the cache stays usable",
      Effect.gen(function*() {
        const cache = yield* Cache
        for (const key of ["a", "b", "c"]) yield* cache.set(key, chatResponse(key))
        yield* cache.clear
        for (const key of ["a", "b", "c"]) yield* assertMiss(key)
        yield* cache.set("d", chatResponse("d"))
        assert.deepStrictEqual(yield* getSome("d"), chatResponse("d"))
      })
    )

    test(
      "the default timeToLive expires entries (absolute from write, on the Effect Clock)",
      Effect.gen(function*() {
        const cache = yield* Cache
        yield* cache.set("k", chatResponse("k"))
        yield* TestClock.adjust(Duration.seconds(59))
        assert.deepStrictEqual(yield* getSome("k"), chatResponse("k"))
        yield* TestClock.adjust(Duration.seconds(2))
        yield* assertMiss("k")
        // a rewrite starts a new lifetime
        yield* cache.set("k", chatResponse("k2"))
        yield* TestClock.adjust(Duration.seconds(30))
        assert.deepStrictEqual(yield* getSome("k"), chatResponse("k2"))
      }),
      { timeToLive: Duration.minutes(1) }
    )

    test(
      "reads do not extend the lifetime of an entry",
      Effect.gen(function*() {
        const cache = yield* Cache
        yield* cache.set("k", chatResponse("k"))
        for (let i = 0; i < 5; i++) {
          yield* TestClock.adjust(Duration.seconds(11))
          if (i < 4) assert.deepStrictEqual(yield* getSome("k"), chatResponse("k"))
        }
        yield* assertMiss("k")
      }),
      { timeToLive: Duration.seconds(50) }
    )

    test(
      "a per-entry timeToLive overrides the default",
      Effect.gen(function*() {
        const cache = yield* Cache
        yield* cache.set("short", chatResponse("short"), { timeToLive: Duration.seconds(10) })
        yield* cache.set("long", chatResponse("long"), { timeToLive: Duration.hours(2) })
        yield* cache.set("default", chatResponse("default"))
        yield* TestClock.adjust(Duration.seconds(11))
        yield* assertMiss("short")
        assert.deepStrictEqual(yield* getSome("default"), chatResponse("default"))
        yield* TestClock.adjust(Duration.hours(1))
        yield* assertMiss("default")
        assert.deepStrictEqual(yield* getSome("long"), chatResponse("long"))
        yield* TestClock.adjust(Duration.hours(1))
        yield* assertMiss("long")
      }),
      { timeToLive: Duration.minutes(1) }
    )

    test(
      "without a default timeToLive entries do not expire, per-entry TTL still applies",
      Effect.gen(function*() {
        const cache = yield* Cache
        yield* cache.set("forever", chatResponse("forever"))
        yield* cache.set("brief", embeddingResponse(1), { timeToLive: "5 seconds" })
        yield* TestClock.adjust(Duration.days(3650))
        assert.deepStrictEqual(yield* getSome("forever"), chatResponse("forever"))
        yield* assertMiss("brief")
      })
    )

    test(
      "holds many keys",
      Effect.gen(function*() {
        const cache = yield* Cache
        const keys = Array.from({ length: 1_000 }, (_, i) => `many-${i}`)
        yield* Effect.forEach(keys, (key, i) => cache.set(key, i % 2 === 0 ? chatResponse(key) : embeddingResponse(i)), {
          concurrency: 64,
          discard: true
        })
        for (const [i, key] of keys.entries()) {
          assert.deepStrictEqual(yield* getSome(key), i % 2 === 0 ? chatResponse(key) : embeddingResponse(i))
        }
        yield* assertMiss("many-1000")
      })
    )

    test(
      "long keys and unusual characters are distinct keys",
      Effect.gen(function*() {
        const cache = yield* Cache
        const long = "k".repeat(200)
        const longer = "k".repeat(199) + "l"
        const veryLong = "v".repeat(5_000)
        const odd = "ключ/ü\u0000 \n\t✓"
        yield* cache.set(long, chatResponse("long"))
        yield* cache.set(longer, chatResponse("longer"))
        yield* cache.set(veryLong, chatResponse("very-long"))
        yield* cache.set(veryLong + "x", chatResponse("very-long-x"))
        yield* cache.set(odd, embeddingResponse(2))
        assert.deepStrictEqual(yield* getSome(long), chatResponse("long"))
        assert.deepStrictEqual(yield* getSome(longer), chatResponse("longer"))
        assert.deepStrictEqual(yield* getSome(veryLong), chatResponse("very-long"))
        assert.deepStrictEqual(yield* getSome(veryLong + "x"), chatResponse("very-long-x"))
        assert.deepStrictEqual(yield* getSome(odd), embeddingResponse(2))
        yield* assertMiss("k".repeat(201))
      })
    )

    test(
      "concurrent sets and gets see every acknowledged write",
      Effect.gen(function*() {
        const cache = yield* Cache
        const keys = Array.from({ length: 300 }, (_, i) => `c-${i}`)
        yield* Effect.forEach(
          keys,
          (key) =>
            cache.set(key, chatResponse(key)).pipe(
              Effect.zipRight(cache.get(key)),
              Effect.map((found) => assert.deepStrictEqual(Option.getOrUndefined(found), chatResponse(key)))
            ),
          { concurrency: "unbounded", discard: true }
        )
        const found = yield* Effect.forEach(keys, (key) => cache.get(key), { concurrency: "unbounded" })
        assert.strictEqual(found.filter(Option.isSome).length, keys.length)
      })
    )
  })
}
