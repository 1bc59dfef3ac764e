import type { BatchStats } from "../BatchStats.js"
import type { ItemResult } from "../ItemResult.js"
import * as TokenStats from "../TokenStats.js"
import type * as Cost from "../Cost.js"
import type { RateController } from "./rateController.js"
import type { SpendLimit } from "./spendLimit.js"

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
  costUsd = 0
  unpricedItems = 0
  readonly failuresByKind: Record<string, number> = {}

  constructor(
    readonly startedAt: number,
    readonly rate: RateController,
    readonly concurrency: () => { readonly configured: number; readonly current: number },
    readonly budget?: SpendLimit | undefined
  ) {}

  finished(result: ItemResult): void {
    if (result._tag === "Success") {
      this.succeeded++
      if (result.fromCache) this.cached++
      if (result.deduplicated) this.deduplicated++
      else if (!result.fromCache) {
        this.tokens = TokenStats.add(this.tokens, result.tokens)
        if (result.cost === undefined) this.unpricedItems++
        else this.costUsd += result.cost
      }
    } else {
      this.failed++
      const kind = result.error._tag === "RateLimitError" && result.error.kind === "quota"
        ? "InsufficientQuota"
        : result.error._tag
      this.failuresByKind[kind] = (this.failuresByKind[kind] ?? 0) + 1
    }
  }

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
      etaMillis: eta(total, done, done - this.cached, seconds),
      limits: { requestsPerMinute: rate.requestsPerMinute, tokensPerMinute: rate.tokensPerMinute },
      cost: this.cost,
      maxCost: this.budget?.maxCost,
      rateLimitedIsolated: rate.isolated,
      concurrency: this.concurrency()
    }
  }

  get cost(): Cost.CostStats {
    return { usd: this.costUsd, unpricedItems: this.unpricedItems }
  }
}

/**
 * Time to finish from the live rate: items the API answered per second, not cache hits, which
 * finish in microseconds (a resumed run's hits would promise an ETA of seconds with minutes left).
 * Undefined until the total is known and the API has answered something.
 */
const eta = (total: number, done: number, answered: number, seconds: number): number | undefined =>
  total > 0 && answered > 0 && seconds > 0 ? ((total - done) / (answered / seconds)) * 1000 : undefined

/**
 * What one item's work is counted in: the manager's own tracker (`snapshot`, `progress`) and, for
 * `run` and `stream`, that run's tracker (its final stats). Every update goes to both.
 *
 * @internal
 */
export class Counters {
  constructor(readonly service: Tracker, readonly run: Tracker | undefined) {}

  submitted(n: number): void {
    this.service.submitted += n
    if (this.run !== undefined) this.run.submitted += n
  }
  attemptStarted(): void {
    this.service.apiCalls++
    this.service.inFlight++
    if (this.run !== undefined) {
      this.run.apiCalls++
      this.run.inFlight++
    }
  }
  attemptEnded(): void {
    this.service.inFlight--
    if (this.run !== undefined) this.run.inFlight--
  }
  retried(n: number): void {
    this.service.retries += n
    if (this.run !== undefined) this.run.retries += n
  }
  cacheError(): void {
    this.service.cacheErrors++
    if (this.run !== undefined) this.run.cacheErrors++
  }
  finished(result: ItemResult): void {
    this.service.finished(result)
    this.run?.finished(result)
  }
}
