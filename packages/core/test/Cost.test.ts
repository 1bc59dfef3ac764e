import { assert, describe, it } from "@effect/vitest"
import * as Cost from "../src/Cost.js"
import * as TokenStats from "../src/TokenStats.js"

const tokens = (prompt: number, completion: number, cached = 0, reasoning = 0): TokenStats.TokenStats => ({
  promptTokens: prompt,
  completionTokens: completion,
  totalTokens: prompt + completion,
  cachedTokens: cached,
  reasoningTokens: reasoning
})

const close = (actual: number | undefined, expected: number) => {
  assert.isDefined(actual)
  assert.closeTo(actual!, expected, 1e-12)
}

describe("Cost", () => {
  // Prices per million tokens as OpenAI publishes them (and @pydantic/genai-prices 0.1.8 carries):
  // gpt-4o-mini $0.15 in / $0.075 cached in / $0.60 out; gpt-4o $2.50 / $1.25 / $10;
  // text-embedding-3-small $0.02 in.
  it("prices input and output at the table's prices", () => {
    close(Cost.ofTokens("gpt-4o-mini", tokens(1_000_000, 1_000_000)), 0.15 + 0.6)
    close(Cost.ofTokens("gpt-4o", tokens(2_000, 500)), (2_000 * 2.5 + 500 * 10) / 1e6)
    close(Cost.ofTokens("text-embedding-3-small", tokens(10_000, 0)), 10_000 * 0.02 / 1e6)
  })

  it("prices cached input tokens at the cached-input price", () => {
    close(Cost.ofTokens("gpt-4o-mini", tokens(1_000_000, 0, 400_000)), (600_000 * 0.15 + 400_000 * 0.075) / 1e6)
    close(Cost.ofTokens("gpt-4o", tokens(1_000, 100, 1_000)), (1_000 * 1.25 + 100 * 10) / 1e6)
  })

  it("charges reasoning tokens once, as part of the completion tokens", () => {
    const withReasoning = Cost.ofTokens("gpt-4o-mini", tokens(100, 1_000, 0, 800))
    const without = Cost.ofTokens("gpt-4o-mini", tokens(100, 1_000))
    close(withReasoning, without!)
  })

  it("halves the price through the Batch API", () => {
    const online = Cost.ofTokens("gpt-4o-mini", tokens(10_000, 2_000, 1_000))!
    close(Cost.ofTokens("gpt-4o-mini", tokens(10_000, 2_000, 1_000), { mode: "batch" }), online / 2)
  })

  it("says unknown for a model it has no price for, never a number", () => {
    assert.isUndefined(Cost.ofTokens("my-own-finetune-xyz", tokens(1_000, 1_000)))
    assert.isUndefined(Cost.price("my-own-finetune-xyz"))
    assert.isFalse(Cost.isPriced("my-own-finetune-xyz"))
    assert.isTrue(Cost.isPriced("gpt-4o-mini"))
  })

  it("uses your prices first, for new models and to override the table", () => {
    const prices: Cost.Prices = {
      "my-own-finetune-xyz": { inputPerMillion: 1, outputPerMillion: 2 },
      "gpt-4o-mini": { inputPerMillion: 10, outputPerMillion: 20, batchMultiplier: 0.25 }
    }
    close(Cost.ofTokens("my-own-finetune-xyz", tokens(1_000_000, 500_000), { prices }), 1 + 1)
    close(Cost.ofTokens("gpt-4o-mini", tokens(1_000_000, 0), { prices }), 10)
    close(Cost.ofTokens("gpt-4o-mini", tokens(1_000_000, 0), { prices, mode: "batch" }), 2.5)
    // without a cached-input price, cached tokens cost the input price
    close(Cost.ofTokens("my-own-finetune-xyz", tokens(1_000_000, 0, 1_000_000), { prices }), 1)
  })

  it("parses --price values", () => {
    assert.deepStrictEqual(Cost.parsePrice("0.15,0.6"), {
      inputPerMillion: 0.15,
      outputPerMillion: 0.6,
      cachedInputPerMillion: undefined
    })
    assert.strictEqual(Cost.parsePrice("1,2,0.5")?.cachedInputPerMillion, 0.5)
    for (const bad of ["", "1", "a,b", "1,2,3,4", "-1,2", "1;2"]) assert.isUndefined(Cost.parsePrice(bad), bad)
  })

  it("formats costs, unknown ones as such", () => {
    assert.strictEqual(Cost.format({ usd: 0, unpricedItems: 0 }), "$0")
    assert.strictEqual(Cost.format({ usd: 0.00027, unpricedItems: 0 }), "$0.00027")
    assert.strictEqual(Cost.format({ usd: 12.345, unpricedItems: 0 }), "$12.35")
    assert.strictEqual(Cost.format({ usd: 0, unpricedItems: 3 }), "unknown")
    assert.strictEqual(Cost.format({ usd: 1.5, unpricedItems: 1 }), "$1.50 + 1 item of unknown cost")
  })
})
