/**
 * What requests cost, in US dollars: a pure function of (model, token usage, mode) over a price
 * table.
 *
 * The table is `@pydantic/genai-prices` (maintained by Pydantic, updated with every release, used
 * by Logfire): it covers OpenAI, Anthropic, Google, Mistral, Groq, OpenRouter, Together and more,
 * with cached-input prices, tiered prices and price history. `gpt-tokenizer`'s model data was the
 * alternative: OpenAI models only, no cached-input prices for some, and a 30 MB package. The table
 * ships inside the package and is never fetched at run time: nothing leaves the machine.
 *
 * Rules (OpenAI's billing, which the other OpenAI-compatible APIs copy):
 * - input tokens at the input price, of which `cachedTokens` at the cached-input price,
 * - output tokens at the output price. Reasoning tokens are part of `completion_tokens` and are
 *   charged once, as output (`reasoningTokens` is a breakdown, never added again),
 * - the Batch API costs half (`batchMultiplier`, 0.5 by default),
 * - a model the table does not know has no cost (`undefined`): never a guessed number. Add it
 *   with `prices`.
 *
 * @since 0.2.0
 */
import * as GenaiPrices from "@pydantic/genai-prices"
import type { TokenStats } from "./TokenStats.js"

/**
 * The price of a model in US dollars per million tokens.
 *
 * @since 0.2.0
 * @category models
 */
export interface Price {
  readonly inputPerMillion: number
  readonly outputPerMillion: number
  /** Input tokens served from the provider's prompt cache. Default: the input price. */
  readonly cachedInputPerMillion?: number | undefined
  /** What the Batch API charges, as a share of the online price. Default 0.5. */
  readonly batchMultiplier?: number | undefined
}

/**
 * Prices by model name, overriding or adding to the table.
 *
 * @since 0.2.0
 * @category models
 */
export type Prices = Readonly<Record<string, Price>>

/**
 * How the requests are run: online calls, or OpenAI's Batch API (half the price).
 *
 * @since 0.2.0
 * @category models
 */
export type Mode = "online" | "batch"

/**
 * Options of a cost lookup.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly mode?: Mode | undefined
  /** Your prices, looked up before the table (exact model name). */
  readonly prices?: Prices | undefined
}

/**
 * The Batch API's price as a share of the online price (OpenAI: 50%).
 *
 * @since 0.2.0
 * @category constants
 */
export const defaultBatchMultiplier = 0.5

const million = 1_000_000

/** A table entry with plain per-token numbers, or one whose prices depend on the usage (tiers). */
type TableEntry =
  | { readonly _tag: "Flat"; readonly price: Price }
  | { readonly _tag: "Tiered" }
  | { readonly _tag: "Unknown" }

// calcPrice matches the model name against every provider's rules: 40 µs a call for gpt-4o-mini
// (measured: a loop of 20,000 `calcPrice` calls under node 20 here). The hot path prices every
// response, so each model is looked up once and flat prices are kept as plain numbers.
const tableEntries = new Map<string, TableEntry>()

const tableEntry = (model: string): TableEntry => {
  let entry = tableEntries.get(model)
  if (entry === undefined) {
    entry = readTable(model)
    tableEntries.set(model, entry)
  }
  return entry
}

// The table finds most models by name alone; some of OpenAI's (the embedding models) only under
// its provider id. This tool speaks OpenAI's API, so OpenAI is the fallback.
const calcPrice = (usage: GenaiPrices.Usage, model: string): GenaiPrices.PriceCalculationResult =>
  GenaiPrices.calcPrice(usage, model) ?? GenaiPrices.calcPrice(usage, model, { providerId: "openai" })

const readTable = (model: string): TableEntry => {
  const found = calcPrice({ input_tokens: 0, output_tokens: 0 }, model)
  if (found === null) return { _tag: "Unknown" }
  const input = found.model_price["input_mtok"]
  const output = found.model_price["output_mtok"] ?? 0
  const cached = found.model_price["cache_read_mtok"]
  if (typeof input !== "number" || typeof output !== "number" || (cached !== undefined && typeof cached !== "number")) {
    return { _tag: "Tiered" }
  }
  return {
    _tag: "Flat",
    price: { inputPerMillion: input, outputPerMillion: output, cachedInputPerMillion: cached }
  }
}

/**
 * The price of a model: yours (`prices`) first, then the table's. `undefined` when neither knows
 * it, or when the table's price depends on the request's size (tiered: priced per response by
 * `ofTokens`).
 *
 * @since 0.2.0
 * @category getters
 */
export const price = (model: string, prices?: Prices): Price | undefined => {
  const own = prices?.[model]
  if (own !== undefined) return own
  const entry = tableEntry(model)
  return entry._tag === "Flat" ? entry.price : undefined
}

/**
 * Whether a model has a price (yours or the table's), so its cost can be known.
 *
 * @since 0.2.0
 * @category getters
 */
export const isPriced = (model: string, prices?: Prices): boolean =>
  prices?.[model] !== undefined || tableEntry(model)._tag !== "Unknown"

/**
 * The cost of tokens at a price, in US dollars.
 *
 * @since 0.2.0
 * @category constructors
 */
export const atPrice = (price: Price, tokens: TokenStats, mode: Mode = "online"): number => {
  const cached = Math.min(tokens.cachedTokens, tokens.promptTokens)
  const online = (tokens.promptTokens - cached) * price.inputPerMillion +
    cached * (price.cachedInputPerMillion ?? price.inputPerMillion) +
    tokens.completionTokens * price.outputPerMillion
  const multiplier = mode === "batch" ? price.batchMultiplier ?? defaultBatchMultiplier : 1
  return online / million * multiplier
}

/**
 * The cost of one response's tokens, in US dollars; `undefined` when the model has no price.
 *
 * @since 0.2.0
 * @category constructors
 * @example
 * ```ts
 * import { Cost, TokenStats } from "@fastllm/core"
 *
 * const tokens = { ...TokenStats.empty, promptTokens: 1_000, completionTokens: 200, totalTokens: 1_200 }
 * Cost.ofTokens("gpt-4o-mini", tokens) // 0.00027
 * Cost.ofTokens("gpt-4o-mini", tokens, { mode: "batch" }) // 0.000135
 * Cost.ofTokens("my-finetune", tokens) // undefined: unknown model
 * Cost.ofTokens("my-finetune", tokens, { prices: { "my-finetune": { inputPerMillion: 1, outputPerMillion: 2 } } })
 * ```
 */
export const ofTokens = (model: string, tokens: TokenStats, options?: Options): number | undefined => {
  const mode = options?.mode ?? "online"
  const own = options?.prices?.[model]
  if (own !== undefined) return atPrice(own, tokens, mode)
  const entry = tableEntry(model)
  switch (entry._tag) {
    case "Flat":
      return atPrice(entry.price, tokens, mode)
    case "Unknown":
      return undefined
    case "Tiered": {
      const result = calcPrice({
        input_tokens: tokens.promptTokens,
        cache_read_tokens: Math.min(tokens.cachedTokens, tokens.promptTokens),
        output_tokens: tokens.completionTokens
      }, model)
      return result === null ? undefined : result.total_price * (mode === "batch" ? defaultBatchMultiplier : 1)
    }
  }
}

/**
 * Reads a price given as `INPUT,OUTPUT` (or `INPUT,OUTPUT,CACHED_INPUT`) US dollars per million
 * tokens, as the CLI's `--price MODEL=INPUT,OUTPUT` takes it. `undefined` when it is not that.
 *
 * @since 0.2.0
 * @category constructors
 */
export const parsePrice = (text: string): Price | undefined => {
  const parts = text.split(",").map((part) => part.trim())
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^\d+(\.\d+)?$/.test(part))) return undefined
  const [input, output, cached] = parts.map(Number)
  return input === undefined || output === undefined
    ? undefined
    : { inputPerMillion: input, outputPerMillion: output, cachedInputPerMillion: cached }
}

/**
 * Running cost of a batch: what was paid for answers whose model has a price, and how many
 * answers had none (their cost is unknown, never counted as zero).
 *
 * @since 0.2.0
 * @category models
 */
export interface CostStats {
  /** US dollars spent on priced answers (cache hits and shared answers cost nothing). */
  readonly usd: number
  /** API answers whose model has no price: the true total is `usd` plus their unknown cost. */
  readonly unpricedItems: number
}

/**
 * Nothing spent.
 *
 * @since 0.2.0
 * @category constructors
 */
export const emptyStats: CostStats = { usd: 0, unpricedItems: 0 }

/**
 * How a person reads a cost: `$0.0123`, `$1.23 + 4 items of unknown cost`, or `unknown`.
 *
 * @since 0.2.0
 * @category formatting
 */
export const format = (stats: CostStats): string => {
  if (stats.unpricedItems > 0 && stats.usd === 0) return "unknown"
  const usd = formatUsd(stats.usd)
  return stats.unpricedItems > 0
    ? `${usd} + ${stats.unpricedItems} item${stats.unpricedItems === 1 ? "" : "s"} of unknown cost`
    : usd
}

/**
 * US dollars with the precision that matters: 4 significant decimals under a dollar.
 *
 * @since 0.2.0
 * @category formatting
 */
export const formatUsd = (usd: number): string =>
  usd === 0 ? "$0" : usd >= 1 ? `$${usd.toFixed(2)}` : `$${usd.toPrecision(3).replace(/0+$/, "").replace(/\.$/, "")}`
