/**
 * What one item cost, as the viewer shows it: the cost the line carries (OpenRouter's
 * `usage.cost`, or a `cost` field), else its usage at the price of its model from core's `Cost`
 * table (online prices, cached input at the cached price), else unknown. The one place the viewer
 * prices anything.
 *
 * @since 0.2.0
 */
import { Cost as CoreCost } from "@fastllm/core"

/**
 * What is known of an item when its cost is asked for.
 *
 * @since 0.2.0
 * @category models
 */
export interface Usage {
  readonly model: string
  readonly promptTokens: number
  readonly completionTokens: number
  /** Prompt tokens the API served from its prompt cache (`prompt_tokens_details.cached_tokens`). */
  readonly cachedTokens: number
  /** Dollars, when the line itself says what it cost. */
  readonly reported: number | undefined
}

/**
 * The cost of an item in dollars, or undefined when it is not known (no usage, or a model the
 * price table does not know: never a guess).
 *
 * @since 0.2.0
 * @category pricing
 */
export const dollars = (usage: Usage): number | undefined => {
  if (usage.reported !== undefined) return usage.reported
  if (usage.model === "" || usage.promptTokens + usage.completionTokens === 0) return undefined
  return CoreCost.ofTokens(usage.model, {
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    totalTokens: usage.promptTokens + usage.completionTokens,
    cachedTokens: usage.cachedTokens,
    reasoningTokens: 0
  })
}
