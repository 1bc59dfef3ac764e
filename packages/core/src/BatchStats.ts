/**
 * Progress and final statistics of a batch.
 *
 * @since 0.1.0
 */
import type { CostStats } from "./Cost.js"
import type { TokenStats } from "./TokenStats.js"

/**
 * A snapshot of a batch: live while it runs (`RequestManager.progress`), final when it ends.
 * Tokens count what the API was paid for: cache hits and shared (single-flight) answers cost nothing.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchStats {
  /** Items submitted so far (or the expected total, when the caller gave one and it is larger). */
  readonly total: number
  /** Items finished: succeeded + failed. */
  readonly done: number
  readonly succeeded: number
  readonly failed: number
  /** Items answered from the cache. */
  readonly cached: number
  /** Items answered by an identical request already in flight (sent once, shared). */
  readonly deduplicated: number
  /** Attempts after the first, over all items. */
  readonly retries: number
  /** Requests sent to the provider (every attempt). */
  readonly apiCalls: number
  /** Provider calls in flight now. */
  readonly inFlight: number
  /** 429 responses received. */
  readonly rateLimited: number
  /** Time spent waiting on rate limits (summed over the shared gate's pauses and limiter waits). */
  readonly rateLimitWaitMillis: number
  /** Cache operations that failed (each treated as a miss or a skipped write). */
  readonly cacheErrors: number
  /** Failed items by error tag (`RateLimitError` with kind quota counts as `InsufficientQuota`). */
  readonly failuresByKind: Readonly<Record<string, number>>
  readonly tokens: TokenStats
  readonly elapsedMillis: number
  /** Finished items per second since the start. */
  readonly requestsPerSecond: number
  readonly promptTokensPerSecond: number
  readonly completionTokensPerSecond: number
  /** Estimated time to finish from the live API rate (cache hits excluded), when the total is known and the API has answered something. */
  readonly etaMillis: number | undefined
  /** Of `rateLimited`, the isolated 429s (the bucket had room): only their own request backed off. */
  readonly rateLimitedIsolated: number
  /**
   * Provider calls allowed in flight: `configured`, and `current`, lower while adaptive
   * concurrency has cut it (after bursts of 429s or timeouts, or calls slowing down).
   */
  readonly concurrency: { readonly configured: number; readonly current: number }
  /** The rate limits in force now: configured, or learned from the server's headers. */
  readonly limits: {
    readonly requestsPerMinute: number | undefined
    readonly tokensPerMinute: number | undefined
  }
  /**
   * US dollars paid for the answers received (cache hits and shared answers cost nothing), and how
   * many answers had no price (`Cost.format` shows them as unknown, never as zero).
   */
  readonly cost: CostStats
  /** The cost budget (`maxCost`) in force, if any. */
  readonly maxCost: number | undefined
}
