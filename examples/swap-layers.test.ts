/**
 * Swapping layers in a test: the same program runs against a fake provider (plain functions, no
 * network) and the in-memory cache instead of OpenAI and the disk.
 *
 *   npm run example:swap-layers
 */
import { assert, describe, it } from "@effect/vitest"
import { Cache, ChatResponse, LLMError, Provider, RequestManager } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

// The program under test: it only knows RequestManager, not which provider or cache is behind it.
const shout = (words: ReadonlyArray<string>) =>
  Effect.map(
    RequestManager.run(words.map((word) => ({ model: "fake", messages: [{ role: "user" as const, content: word }] }))),
    ({ results, stats }) => ({
      answers: results.map((result) => {
        const response = RequestManager.chatResponse(result)
        return response ? ChatResponse.text(response) : result._tag === "Failure" ? result.error._tag : undefined
      }),
      stats
    })
  )

describe("swapping the provider and the cache", () => {
  it.effect("runs the program on a fake provider and the memory cache", () =>
    Effect.gen(function*() {
      let calls = 0
      const FakeProvider = Provider.layerFromFunctions({
        name: "fake",
        chat: (request) =>
          Effect.suspend(() => {
            calls++
            const content = String(request.messages[0]?.content ?? "")
            return content === "boom"
              ? Effect.fail(new LLMError.ApiError({ status: 400, detail: "no booms", retryable: false }))
              : Effect.succeed({
                id: `fake-${calls}`,
                model: request.model,
                choices: [{ index: 0, message: { role: "assistant", content: content.toUpperCase() }, finish_reason: "stop" }]
              })
          })
      })
      const TestLayer = RequestManager.layer({ concurrency: 4 }).pipe(
        Layer.provide(FakeProvider),
        Layer.provide(Cache.memory())
      )
      const { answers, first, second } = yield* Effect.gen(function*() {
        const first = yield* shout(["hello", "world", "boom"])
        const second = yield* shout(["hello", "world"])
        return { answers: first.answers, first: first.stats, second: second.stats }
      }).pipe(Effect.provide(TestLayer))

      assert.deepStrictEqual(answers, ["HELLO", "WORLD", "ApiError"])
      assert.strictEqual(first.failed, 1)
      // The second run is answered by the memory cache: the fake saw each request once.
      assert.strictEqual(second.cached, 2)
      assert.strictEqual(calls, 3)
    }))
})
