/**
 * What one item cost, as the viewer shows it. The one place where a price lookup plugs in: today
 * the cost is the one a line carries (OpenRouter's `usage.cost`, or a `cost` field), else unknown.
 *
 * @since 0.2.0
 */

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
  /** Dollars, when the line itself says what it cost. */
  readonly reported: number | undefined
}

/**
 * The cost of an item in dollars, or undefined when it is not known. A price table (model →
 * dollars per token) goes here once the project has one; the viewer calls nothing else.
 *
 * @since 0.2.0
 * @category pricing
 */
export const dollars = (usage: Usage): number | undefined => usage.reported
