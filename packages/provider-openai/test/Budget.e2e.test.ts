import { assert, describe, it } from "@effect/vitest"
import { Cache, Cost, RequestManager } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

// The cost budget over real HTTP: the test server answers with real usage blocks, the manager
// prices them, and stops sending once the next call would not fit.

// $1 per token in and out: costs are token counts, easy to check.
const prices: Cost.Prices = { "budget-model": { inputPerMillion: 1_000_000, outputPerMillion: 1_000_000 } }

const chat = (i: number) => ({
  model: "budget-model",
  messages: [{ role: "user" as const, content: `item ${String(i).padStart(4, "0")} ${"x".repeat(30)}` }],
  max_tokens: 8
})

const managerWith = (server: TestServer.TestServer, cache: Layer.Layer<Cache.Cache>, options: RequestManager.Options) =>
  Effect.flatMap(
    Layer.build(Layer.merge(OpenAiProvider.layer({ baseUrl: server.url, name: "budget-test" }), cache)),
    (context) => Effect.provide(RequestManager.make(options), context)
  )

describe("cost budget against the test server", () => {
  it.live("stops at the budget under concurrency, never overshoots it, and a rerun continues from the cache", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 5, maxMs: 20 }, models: ["budget-model"] })
      const cache = yield* Layer.build(Cache.memory())
      const cacheLayer = Layer.succeedContext(cache)
      const inputs = Array.from({ length: 200 }, (_, i) => chat(i))
      const maxCost = 400
      const first = yield* managerWith(server, cacheLayer, { concurrency: 16, maxCost, prices })
      const { results, stats } = yield* first.run(inputs)
      const served = (yield* server.stats).requests

      const succeeded = results.filter((r) => r._tag === "Success")
      const refused = results.filter((r) => r._tag === "Failure")
      assert.isAbove(succeeded.length, 5)
      assert.isAbove(refused.length, 0)
      for (const result of refused) {
        assert.strictEqual(result._tag === "Failure" && result.error._tag, "BudgetExceededError")
        assert.strictEqual(result.attempts, 0)
      }
      // Every answer was priced, the total is what the items say, and it stays within the budget:
      // each call reserved its prompt estimate + max_tokens before it was sent.
      const itemCosts = succeeded.reduce((sum, r) => sum + (r._tag === "Success" ? r.cost ?? NaN : 0), 0)
      assert.closeTo(stats.cost.usd, itemCosts, 1e-6)
      assert.strictEqual(stats.cost.unpricedItems, 0)
      assert.isAtMost(stats.cost.usd, maxCost)
      assert.strictEqual(stats.maxCost, maxCost)
      // No call was sent for a refused item.
      assert.strictEqual(served, succeeded.length)
      assert.include(refused[0]!._tag === "Failure" ? refused[0]!.error.message : "", "budget of $400")

      // A rerun with a larger budget: the answered items come from the cache for free, the rest are sent.
      const second = yield* managerWith(server, cacheLayer, { concurrency: 16, maxCost: 100_000, prices })
      const rerun = yield* second.run(inputs)
      assert.isTrue(rerun.results.every((r) => r._tag === "Success"))
      assert.strictEqual(rerun.stats.cached, succeeded.length)
      assert.strictEqual((yield* server.stats).requests, inputs.length)
      assert.isTrue(rerun.results.slice(0, 3).every((r) => r._tag === "Success" && (!r.fromCache || r.cost === 0)))
    })), 30_000)

  it.live("a model with no price cannot be budgeted: its items fail naming it, nothing is sent", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 1, maxMs: 2 } })
      const manager = yield* managerWith(server, Cache.none, { concurrency: 4, maxCost: 10, cache: false })
      const { results } = yield* manager.run([{ ...chat(1), model: "no-such-price-model" }])
      const failure = results[0]
      assert.strictEqual(failure?._tag === "Failure" && failure.error._tag, "BudgetExceededError")
      assert.include(failure?._tag === "Failure" ? failure.error.message : "", "no-such-price-model has no price")
      assert.strictEqual((yield* server.stats).requests, 0)
    })))

  it.live("without a budget, answers are priced from the table and unknown models stay unknown", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 1, maxMs: 2 } })
      const manager = yield* managerWith(server, Cache.none, { concurrency: 4, cache: false })
      const { results, stats } = yield* manager.run([
        { ...chat(1), model: "gpt-4o-mini" },
        { ...chat(2), model: "some-local-model" }
      ])
      const [priced, unpriced] = results
      assert.isTrue(priced?._tag === "Success" && priced.cost !== undefined && priced.cost > 0)
      if (priced?._tag === "Success") assert.closeTo(priced.cost!, Cost.ofTokens("gpt-4o-mini", priced.tokens)!, 1e-15)
      assert.isTrue(unpriced?._tag === "Success" && unpriced.cost === undefined)
      assert.strictEqual(stats.cost.unpricedItems, 1)
      assert.strictEqual(Cost.format(stats.cost).endsWith("+ 1 item of unknown cost"), true)
    })))
})
