import type { BatchStats } from "../BatchStats.js"
import * as TokenStats from "../TokenStats.js"
import type { RateController } from "./rateController.js"

/**
 * Mutable counters behind `BatchStats`. Updated synchronously from inside `Effect.sync`, read by
 * snapshots; cheaper than a `Ref` per counter on a path taken a million times.
 *
 * @internal
 */
export class Tracker {
  submitted = 0
  expectedTotal = 0
  succeeded = 0
  failed = 0
  cached = 0
  deduplicated = 0
  retries = 0
  apiCalls = 0
  inFlight = 0
  cacheErrors = 0
  tokens: TokenStats.TokenStats = TokenStats.empty
  readonly failuresByKind: Record<string, number> = {}

  constructor(readonly startedAt: number, readonly rate: RateController) {}

  snapshot(now: number): BatchStats {
    const done = this.succeeded + this.failed
    const total = Math.max(this.submitted, this.expectedTotal)
    const elapsedMillis = Math.max(0, now - this.startedAt)
    const seconds = elapsedMillis / 1000
    const perSecond = (n: number) => seconds > 0 ? n / seconds : 0
    const requestsPerSecond = perSecond(done)
    const rate = this.rate.snapshot()
    return {
      total,
      done,
      succeeded: this.succeeded,
      failed: this.failed,
      cached: this.cached,
      deduplicated: this.deduplicated,
      retries: this.retries,
      apiCalls: this.apiCalls,
      inFlight: this.inFlight,
      rateLimited: rate.rateLimited,
      rateLimitWaitMillis: rate.waitMillis,
      cacheErrors: this.cacheErrors,
      failuresByKind: { ...this.failuresByKind },
      tokens: this.tokens,
      elapsedMillis,
      requestsPerSecond,
      promptTokensPerSecond: perSecond(this.tokens.promptTokens),
      completionTokensPerSecond: perSecond(this.tokens.completionTokens),
      etaMillis: total > 0 && done > 0 && requestsPerSecond > 0 ? ((total - done) / requestsPerSecond) * 1000 : undefined,
      limits: { requestsPerMinute: rate.requestsPerMinute, tokensPerMinute: rate.tokensPerMinute }
    }
  }
}

/**
 * Several trackers updated as one (the service-wide one and the current run's).
 *
 * @internal
 */
export const forEachTracker = (trackers: ReadonlyArray<Tracker>, f: (tracker: Tracker) => void): void => {
  for (const tracker of trackers) f(tracker)
}
