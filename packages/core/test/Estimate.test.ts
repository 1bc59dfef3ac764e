import { assert, describe, it } from "@effect/vitest"
import { ApiRequest, Cache, Estimate, RequestKey } from "@fastllm/core"
import { chatResponse } from "@fastllm/core/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"

const hello = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }], max_tokens: 100 }
const twoChoices = { ...hello, messages: [{ role: "user", content: "Hello again" }], n: 2 }
const embedding = { model: "text-embedding-3-small", input: "hello world" }
const llama = { model: "llama-3.1-8b", messages: [{ role: "user", content: "Hello there" }], max_tokens: 10 }
const invalid = { model: "gpt-4o-mini", messages: [{ role: "wizard", content: "Hi" }] }

const decoded = (input: unknown) => Either.getOrThrow(ApiRequest.decode(input))

describe("Estimate", () => {
  it.effect("counts prompt tokens with OpenAI's tokenizer, outputs from max_tokens, and prices both modes", () =>
    Effect.gen(function*() {
      const estimate = yield* Estimate.make([hello, embedding, llama, invalid]).pipe(Effect.provide(Cache.none))
      assert.strictEqual(estimate.items, 4)
      assert.strictEqual(estimate.invalid, 1)
      assert.strictEqual(estimate.cached, 0)
      assert.strictEqual(estimate.toSend.requests, 3)
      assert.strictEqual(estimate.tokenizedRequests, 2)
      // OpenAI reports prompt_tokens 8 for one user message "Hello" on gpt-4o-mini (3 + "user" + "Hello" + 3),
      // and 2 for the embedding input "hello world".
      const mini = estimate.byModel["gpt-4o-mini"]!
      assert.strictEqual(mini.promptTokens, 8)
      assert.strictEqual(mini.outputTokens, 100)
      assert.closeTo(mini.online.usd, (8 * 0.15 + 100 * 0.6) / 1e6, 1e-15)
      assert.closeTo(mini.batch.usd, mini.online.usd / 2, 1e-15)
      assert.strictEqual(estimate.byModel["text-embedding-3-small"]!.promptTokens, 2)
      // other vendors' models: characters / 4, and no price
      assert.strictEqual(estimate.byModel["llama-3.1-8b"]!.promptTokens, Math.ceil("Hello there".length / 4))
      assert.strictEqual(estimate.toSend.online.unpricedItems, 1)
      assert.strictEqual(estimate.toSend.batch.unpricedItems, 1)
      assert.strictEqual(estimate.toSend.promptTokens, 8 + 2 + 3)
      assert.strictEqual(estimate.toSend.outputTokens, 110)
      assert.isUndefined(estimate.minutes)
    }))

  it.effect("assumes the stated output per choice when max_tokens is absent", () =>
    Effect.gen(function*() {
      const { max_tokens: _, ...noMax } = twoChoices
      const estimate = yield* Estimate.make([noMax], { outputTokens: 40 }).pipe(Effect.provide(Cache.none))
      assert.strictEqual(estimate.toSend.outputTokens, 80)
    }))

  it.effect("subtracts what the cache already answers under the run's provider name", () =>
    Effect.gen(function*() {
      const cache = yield* Cache.Cache
      yield* cache.set(RequestKey.make("openai:api.openai.com/v1", decoded(hello)), chatResponse("hi"))
      const keyed = yield* Estimate.make([hello, twoChoices], { providerName: "openai:api.openai.com/v1" })
      assert.strictEqual(keyed.cached, 1)
      assert.strictEqual(keyed.toSend.requests, 1)
      // another provider's answers are not this run's
      const other = yield* Estimate.make([hello, twoChoices], { providerName: "vllm:127.0.0.1:8000/v1" })
      assert.strictEqual(other.cached, 0)
    }).pipe(Effect.provide(Cache.memory())))

  it("says how long the job takes under the budgets: the slower of the two", () => {
    const totals = { requests: 3_000, promptTokens: 200_000, outputTokens: 100_000 }
    assert.strictEqual(Estimate.minutesUnderLimits(totals, { requestsPerMinute: 1_000 }), 3)
    assert.strictEqual(Estimate.minutesUnderLimits(totals, { tokensPerMinute: 60_000 }), 5)
    assert.strictEqual(Estimate.minutesUnderLimits(totals, { requestsPerMinute: 500, tokensPerMinute: 150_000 }), 6)
    assert.isUndefined(Estimate.minutesUnderLimits(totals, {}))
  })
})
