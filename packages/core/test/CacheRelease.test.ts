import { assert, describe, it } from "@effect/vitest"
import { Cache, LLMError, Provider, RequestManager } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** The memory cache, recording the keys the manager releases (the hook a claiming cache uses). */
const releasingCache = Effect.map(Cache.makeMemory(), (memory) => {
  const released: Array<string> = []
  const service: Cache.Cache.Service = { ...memory, release: (key) => Effect.sync(() => void released.push(key)) }
  return { released, layer: Layer.succeed(Cache.Cache, service) }
})

const provider = Provider.layerFromFunctions({
  name: "fake",
  chat: (request) =>
    request.model === "bad"
      ? Effect.fail(new LLMError.ApiError({ status: 400, detail: "no such model", retryable: false }))
      : Effect.succeed({
        id: "r",
        model: request.model,
        choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }]
      })
})

const ask = (model: string) => ({ model, messages: [{ role: "user" as const, content: "hi" }] })

describe("Cache.release", () => {
  it.effect("is called for a miss that ends without a set, never for an answered or cached item", () =>
    Effect.gen(function*() {
      const { layer, released } = yield* releasingCache
      const { results } = yield* RequestManager.run([ask("good"), ask("bad"), ask("good")]).pipe(
        Effect.provide(RequestManager.layer({ maxRetries: 0 }).pipe(Layer.provide(provider), Layer.provide(layer)))
      )
      assert.deepStrictEqual(results.map((r) => r._tag), ["Success", "Failure", "Success"])
      assert.deepStrictEqual(released, [results[1]!.key])
      const again = yield* RequestManager.run([ask("good")]).pipe(
        Effect.provide(RequestManager.layer().pipe(Layer.provide(provider), Layer.provide(layer)))
      )
      assert.isTrue(again.results[0]?._tag === "Success" && again.results[0].fromCache)
      assert.strictEqual(released.length, 1)
    }))
})
