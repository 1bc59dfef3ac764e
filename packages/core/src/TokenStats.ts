/**
 * Token counts, summed over a batch.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { Usage } from "./ChatResponse.js"

/**
 * Prompt, completion and total tokens, plus the cached prompt tokens and the reasoning tokens
 * where the API reports them.
 *
 * @since 0.1.0
 * @category models
 */
export const TokenStats = Schema.Struct({
  promptTokens: Schema.Number,
  completionTokens: Schema.Number,
  totalTokens: Schema.Number,
  cachedTokens: Schema.Number,
  reasoningTokens: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export interface TokenStats extends Schema.Schema.Type<typeof TokenStats> {}

/**
 * No tokens.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty: TokenStats = {
  promptTokens: 0,
  completionTokens: 0,
  totalTokens: 0,
  cachedTokens: 0,
  reasoningTokens: 0
}

/**
 * The token stats of one response's `usage` block (chat or embeddings); absent usage counts zero.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromUsage = (
  usage: Pick<Usage, "prompt_tokens" | "total_tokens"> & Partial<Usage> | null | undefined
): TokenStats =>
  usage == null ? empty : {
    promptTokens: usage.prompt_tokens,
    completionTokens: usage.completion_tokens ?? 0,
    totalTokens: usage.total_tokens,
    cachedTokens: usage.prompt_tokens_details?.cached_tokens ?? 0,
    reasoningTokens: usage.completion_tokens_details?.reasoning_tokens ?? 0
  }

/**
 * The sum of two token stats.
 *
 * @since 0.1.0
 * @category combinators
 */
export const add = (self: TokenStats, that: TokenStats): TokenStats => ({
  promptTokens: self.promptTokens + that.promptTokens,
  completionTokens: self.completionTokens + that.completionTokens,
  totalTokens: self.totalTokens + that.totalTokens,
  cachedTokens: self.cachedTokens + that.cachedTokens,
  reasoningTokens: self.reasoningTokens + that.reasoningTokens
})
