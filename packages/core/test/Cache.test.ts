import { assert, describe, it } from "@effect/vitest"
import { Cache } from "@fastllm/core"
import { cacheContract, chatResponse } from "@fastllm/core/testing"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

cacheContract("Cache.memory", (options) => Cache.memory(options))

describe("Cache.memory", () => {
  it.effect("evicts the least recently used entry at capacity", () =>
    Effect.gen(function*() {
      const cache = yield* Cache.makeMemory({ capacity: 3 })
      yield* cache.set("a", chatResponse("a"))
      yield* cache.set("b", chatResponse("b"))
      yield* cache.set("c", chatResponse("c"))
      // reading "a" makes "b" the least recently used
      assert.isTrue(Option.isSome(yield* cache.get("a")))
      yield* cache.set("d", chatResponse("d"))
      assert.isTrue(Option.isNone(yield* cache.get("b")))
      for (const key of ["a", "c", "d"]) assert.isTrue(Option.isSome(yield* cache.get(key)), key)
      // overwriting "c" refreshes it: "a" goes next
      yield* cache.set("c", chatResponse("c2"))
      yield* cache.get("d")
      yield* cache.set("e", chatResponse("e"))
      assert.isTrue(Option.isNone(yield* cache.get("a")))
      assert.deepStrictEqual(Option.getOrUndefined(yield* cache.get("c")), chatResponse("c2"))
    }))

  it.effect("capacity below one is treated as one", () =>
    Effect.gen(function*() {
      const cache = yield* Cache.makeMemory({ capacity: 0 })
      yield* cache.set("a", chatResponse("a"))
      yield* cache.set("b", chatResponse("b"))
      assert.isTrue(Option.isNone(yield* cache.get("a")))
      assert.isTrue(Option.isSome(yield* cache.get("b")))
    }))

  it.effect("Cache.none never keeps anything", () =>
    Effect.gen(function*() {
      const cache = yield* Cache.Cache
      yield* cache.set("a", chatResponse("a"))
      assert.isTrue(Option.isNone(yield* cache.get("a")))
    }).pipe(Effect.provide(Cache.none)))
})
