import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { ApiResponse } from "../ApiRequest.js"
import { type ProviderError, RateLimitError } from "../LLMError.js"
import type { RateLimitInfo } from "../RateLimitHeaders.js"
import type { RateController } from "./rateController.js"
import * as TokenEstimate from "./tokenEstimate.js"

/*
 * The rate controller of a RequestManager: a requests-per-minute and a tokens-per-minute budget,
 * learned limits, one shared 429 gate, and insufficient-quota fail-fast.
 *
 * Why @effect/experimental's RateLimiter and not `effect/RateLimiter`: measured on this machine
 * (effect 3.22.4), `effect/RateLimiter.make({ limit: 300_000, interval: "1 minute" })` refills one
 * permit per `Math.ceil(60_000 / 300_000) = 1` ms from a background fiber, so with
 * `withCost(100)` it achieved 52,563 tokens/min of a 300,000 budget (17.5%): any budget above
 * 60,000 per minute is unreachable. It also cannot change its limit at run time (limits learned
 * from headers), cannot give tokens back or charge more afterwards (real usage), and
 * `withCost(n)` with `n > limit` waits forever. The experimental limiter computes refills lazily
 * from the Clock (exact under TestClock), takes the limit on every call (so a learned limit applies
 * at once), lets the bucket overdraw (`onExceeded: "delay"` reserves a slot and says how long to
 * wait) and takes negative costs (refunds). Its store is pluggable: the memory store by default, or
 * whatever `RateLimiterStore` is in the context (a Redis store shares one budget across machines).
 */

/** @internal */
export interface RateControllerOptions {
  readonly requestsPerMinute: number | undefined
  readonly tokensPerMinute: number | undefined
  readonly learnFromHeaders: boolean
}

/** The window of both budgets: OpenAI's limits are per minute. */
const window = Duration.minutes(1)
const windowMillis = Duration.toMillis(window)

/** How long the gate stays shut after a 429 that says nothing about when to come back. */
const defaultPauseMillis = 1_000

/** Keys in the limiter's store. */
const requestsKey = "@fastllm/core/RequestManager/requests"
const tokensKey = "@fastllm/core/RequestManager/tokens"

/** One budget: what the user configured, what the server's headers said, the last reset seen. */
class Budget {
  learned: number | undefined = undefined
  resetMillis: number | undefined = undefined
  /** Everything ever reserved, with or without a limit in force: what tickets' marks count from. */
  reserved = 0
  /** The last replies' remaining counts, with the marks of their requests (a ring). */
  readonly readings: Array<Reading> = []
  next = 0
  constructor(readonly key: string, readonly configured: number | undefined) {}

  /** The limit in force: the stricter of configured and learned; undefined when neither is known. */
  get limit(): number | undefined {
    if (this.configured === undefined) return this.learned
    if (this.learned === undefined) return this.configured
    return Math.min(this.configured, this.learned)
  }
}

/** How many replies' remaining counts a budget compares with (see `syncTo`). */
const readingsKept = 32

/** One reply's remaining count, and where its request stood when it was admitted. */
interface Reading {
  readonly remaining: number
  readonly perMinute: number
  readonly mark: number
  readonly admittedAt: number
}

/** Where an attempt stood when it was admitted: the reservation counters just after its own. */
interface Ticket {
  readonly requests: number
  readonly tokens: number
  readonly admittedAt: number
}

const delayOf = (result: RateLimiter.ConsumeResult | undefined): number =>
  result === undefined ? 0 : Duration.toMillis(result.delay)

const positive = (n: number | undefined): number | undefined =>
  n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined

/**
 * Builds the rate controller of a RequestManager.
 *
 * - `acquire` waits for the shared gate (closed after a 429), then reserves one request and the
 *   estimated tokens in token buckets holding one minute's budget (full at the start, as OpenAI's
 *   are), sleeps until the reservation is due, and checks the gate again.
 * - `onReply` charges real `usage` above the estimate, learns `x-ratelimit-limit-*`, and lowers a
 *   bucket when the server's `x-ratelimit-remaining-*` says it holds less than ours predicted for
 *   that moment (never raises it: a reply can be older than requests already sent). Usage below the
 *   estimate is not given back: servers charge `max_tokens` when the request arrives (OpenAI
 *   documents it; the testing server does it), so a refund would outrun them. Requests without a
 *   maximum are estimated from the running average of real completions instead.
 * - `onError` counts 429s, shuts the gate for Retry-After (or the last reset, or 1 s) and empties
 *   the bucket that ran out so the batch resumes at the learned rate rather than in a burst; an
 *   `insufficient_quota` makes every later `acquire` fail at once with a quota `RateLimitError`.
 *
 * Every wait takes its time from the Clock, so TestClock drives it exactly.
 *
 * @internal
 */
export const makeRateController = (options: RateControllerOptions): Effect.Effect<RateController, never, Scope.Scope> =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const store = yield* Effect.serviceOption(RateLimiter.RateLimiterStore)
    const limiter = yield* Option.match(store, {
      // `fresh`: Effect memoizes a provided layer process-wide, which would make every
      // RequestManager in the process share one budget.
      onNone: () => Effect.provide(RateLimiter.make, Layer.fresh(RateLimiter.layerStoreMemory)),
      onSome: (service) => Effect.provideService(RateLimiter.make, RateLimiter.RateLimiterStore, service)
    })

    const requests = new Budget(requestsKey, positive(options.requestsPerMinute))
    const tokens = new Budget(tokensKey, positive(options.tokensPerMinute))
    const learn = options.learnFromHeaders

    let pausedUntil = 0
    let quota: RateLimitError | undefined
    /** Errors this controller made (fail-fast on quota): not the server's, so not counted. */
    const own = new WeakSet<object>()
    let rateLimited = 0
    /** The current attempt's marks; acquire and onReply/onError run in the attempt's fiber. */
    const ticket = yield* FiberRef.make<Ticket | undefined>(undefined)
    let completionSum = 0
    let completionCount = 0
    // Wait time is wall-clock time during which at least one request was held back.
    let waiters = 0
    let waitStartedAt = 0
    let waitMillis = 0

    const now = () => clock.unsafeCurrentTimeMillis()

    const waitFor = (millis: number): Effect.Effect<void> =>
      Effect.acquireUseRelease(
        Effect.sync(() => {
          if (waiters++ === 0) waitStartedAt = now()
        }),
        () => Effect.sleep(Duration.millis(millis)),
        () =>
          Effect.sync(() => {
            if (--waiters === 0) waitMillis += now() - waitStartedAt
          })
      )

    const waitGate: Effect.Effect<void> = Effect.suspend(() => {
      const remaining = pausedUntil - now()
      return remaining > 0 ? Effect.zipRight(waitFor(remaining), waitGate) : Effect.void
    })

    /** Takes `amount` from a budget (negative: gives it back); the bucket's level after it. */
    const consume = (
      budget: Budget,
      limit: number,
      amount: number
    ): Effect.Effect<RateLimiter.ConsumeResult | undefined> =>
      limiter.consume({
        algorithm: "token-bucket",
        onExceeded: "delay",
        window,
        limit,
        key: budget.key,
        tokens: amount
      }).pipe(
        Effect.catchAll((error) =>
          Effect.as(
            Effect.logWarning("FastLLM: the rate limiter's store failed; sending unthrottled", error),
            undefined
          )
        )
      )

    /**
     * Lowers a bucket to `target()` (never raises it). The target is read together with the level
     * (it depends on reservations made meanwhile); the bucket is lowered by a difference, so
     * reservations racing with it are kept. Costs above the limit are taken in steps.
     */
    const lowerTo = (budget: Budget, limit: number, target: () => number): Effect.Effect<void> =>
      Effect.flatMap(consume(budget, limit, 0), (result) => {
        const excess = result === undefined ? 0 : result.remaining - target()
        if (excess <= 0) return Effect.void
        const step = Math.min(excess, limit)
        const taken = consume(budget, limit, step)
        return step < excess ? Effect.zipRight(taken, lowerTo(budget, limit, target)) : Effect.asVoid(taken)
      })

    /** Reserves one request and the estimated tokens; the delay until the reservation is due. */
    const reserve = (estimatedTokens: number): Effect.Effect<number> =>
      Effect.suspend(() => {
        const requestLimit = requests.limit
        const tokenLimit = tokens.limit
        const charged = tokenLimit === undefined ? estimatedTokens : Math.min(estimatedTokens, tokenLimit)
        requests.reserved += 1
        tokens.reserved += charged
        const marks: Ticket = { requests: requests.reserved, tokens: tokens.reserved, admittedAt: 0 }
        const delays: Array<Effect.Effect<number>> = []
        if (requestLimit !== undefined) delays.push(Effect.map(consume(requests, requestLimit, 1), delayOf))
        if (tokenLimit !== undefined && charged > 0) {
          delays.push(Effect.map(consume(tokens, tokenLimit, charged), delayOf))
        }
        const delay = delays.length === 0 ? Effect.succeed(0) : Effect.map(Effect.all(delays), (ds) => Math.max(...ds))
        return Effect.zipLeft(delay, FiberRef.set(ticket, marks))
      })

    const quotaFailure = (): Effect.Effect<never, RateLimitError> => {
      const server = quota?.detail
      const error = new RateLimitError({
        kind: "quota",
        detail: "not sent: an earlier request was refused for insufficient_quota, so the remaining items fail " +
          `without being sent${server === undefined ? "" : ` (the server said: ${server})`}`
      })
      own.add(error)
      return Effect.fail(error)
    }

    const admitted: Effect.Effect<void, RateLimitError> = Effect.suspend(() =>
      quota !== undefined
        ? quotaFailure()
        : FiberRef.update(ticket, (marks) => marks === undefined ? marks : { ...marks, admittedAt: now() })
    )

    const acquire = (estimatedTokens: number): Effect.Effect<void, RateLimitError> =>
      Effect.suspend((): Effect.Effect<void, RateLimitError> => {
        if (quota !== undefined) return quotaFailure()
        if (requests.limit === undefined && tokens.limit === undefined && pausedUntil <= now()) {
          // Nothing to wait for (no limits known yet): count, and keep marks for the first replies.
          requests.reserved += 1
          tokens.reserved += estimatedTokens
          return learn
            ? FiberRef.set(ticket, { requests: requests.reserved, tokens: tokens.reserved, admittedAt: now() })
            : Effect.void
        }
        return waitGate.pipe(
          Effect.zipRight(reserve(estimatedTokens)),
          Effect.flatMap((delay) => delay > 0 ? waitFor(delay) : Effect.void),
          Effect.zipRight(waitGate),
          Effect.zipRight(admitted)
        )
      })

    /**
     * What the servers' remaining counts say about a budget. The server took a request's
     * `remaining` when it arrived, right after the request's marks were taken; since then it has
     * refilled, and it will still count everything reserved after those marks. If that leaves less
     * than our bucket holds, ours was optimistic (a shared key, a stricter server, a first wave sent
     * before the limits were known), and the bucket is lowered to match.
     *
     * One reply can mislead: requests reserved after it that reached the server first are counted
     * twice (measured: over a 200-wide burst on a busy machine, hundreds, which threw away half of
     * a 300,000 TPM budget). That error only ever lowers the estimate, while a real discrepancy
     * shows in every reply, so the bucket follows the most generous of the last replies.
     */
    const syncTo = (
      budget: Budget,
      remaining: number | undefined,
      serverLimit: number | undefined,
      mark: number,
      admittedAt: number
    ): Effect.Effect<void> => {
      const limit = budget.limit
      if (limit === undefined || remaining === undefined) return Effect.void
      const perMinute = serverLimit ?? limit
      budget.readings[budget.next] = { remaining, perMinute, mark, admittedAt }
      budget.next = (budget.next + 1) % readingsKept
      // Once: a bucket that starts full, as the server's does, is drained by our reservations a
      // round trip before the server sees them, and the server wastes that round trip's refill
      // while it is still full (measured: 2 429s in 1,800 requests right after the first burst).
      const roundTrip = (Math.max(0, now() - admittedAt) * perMinute) / windowMillis
      const headroom = budget.readings.length === 1
        ? Effect.asVoid(consume(budget, limit, Math.min(limit, roundTrip)))
        : Effect.void
      return Effect.zipRight(headroom, lowerTo(budget, limit, () => {
        const at = now()
        let best = Number.NEGATIVE_INFINITY
        for (const reading of budget.readings) {
          const refilled = Math.min(
            reading.perMinute,
            reading.remaining + (Math.max(0, at - reading.admittedAt) * reading.perMinute) / windowMillis
          )
          best = Math.max(best, refilled + reading.mark)
        }
        return best - budget.reserved
      }))
    }

    const learnLimits = (info: RateLimitInfo) => {
      const limitRequests = positive(info.limitRequests)
      const limitTokens = positive(info.limitTokens)
      if (limitRequests !== undefined) requests.learned = limitRequests
      if (limitTokens !== undefined) tokens.learned = limitTokens
      if (info.resetRequestsMillis !== undefined) requests.resetMillis = info.resetRequestsMillis
      if (info.resetTokensMillis !== undefined) tokens.resetMillis = info.resetTokensMillis
    }

    const learnCompletion = (response: ApiResponse) => {
      if (response._tag === "Chat") {
        const completion = response.response.usage?.completion_tokens
        if (completion !== undefined) {
          completionSum += completion / Math.max(1, response.response.choices.length)
          completionCount++
        }
      }
    }

    /** Charges real usage above the estimate, learns the limits, and compares with the server's counts. */
    const correct = (estimatedTokens: number, response: ApiResponse, info: RateLimitInfo | undefined) =>
      Effect.flatMap(FiberRef.get(ticket), (marks) => {
        learnCompletion(response)
        if (learn && info !== undefined) learnLimits(info)
        const work: Array<Effect.Effect<void>> = []
        const usage = response.response.usage
        const tokenLimit = tokens.limit
        if (tokenLimit !== undefined && usage != null) {
          const extra = usage.total_tokens - Math.min(estimatedTokens, tokenLimit)
          if (extra > 0) {
            tokens.reserved += extra
            work.push(Effect.asVoid(consume(tokens, tokenLimit, Math.min(extra, tokenLimit))))
          }
        }
        if (learn && info !== undefined && marks !== undefined) {
          work.push(syncTo(requests, info.remainingRequests, info.limitRequests, marks.requests, marks.admittedAt))
          work.push(syncTo(tokens, info.remainingTokens, info.limitTokens, marks.tokens, marks.admittedAt))
        }
        return Effect.all(work, { discard: true })
      })

    const onReply = (estimatedTokens: number, response: ApiResponse, info: RateLimitInfo | undefined) =>
      (!learn || info === undefined) && tokens.limit === undefined
        ? Effect.sync(() => learnCompletion(response))
        : correct(estimatedTokens, response, info)

    const onError = (_estimatedTokens: number, error: ProviderError) =>
      Effect.suspend(() => {
        if (own.has(error)) return Effect.void
        if (error._tag !== "RateLimitError") return Effect.void
        rateLimited++
        if (error.kind === "quota") {
          quota ??= error
          return Effect.void
        }
        const budget = error.kind === "tokens" ? tokens : requests
        const pause = error.retryAfter !== undefined
          ? Duration.toMillis(error.retryAfter)
          : budget.resetMillis ?? defaultPauseMillis
        pausedUntil = Math.max(pausedUntil, now() + pause)
        const limit = budget.limit
        return limit === undefined ? Effect.void : lowerTo(budget, limit, () => 0)
      })

    return {
      estimate: (request) =>
        TokenEstimate.estimate(
          request,
          completionCount > 0 ? completionSum / completionCount : TokenEstimate.defaultCompletionTokens
        ),
      acquire,
      onReply,
      onError,
      snapshot: () => ({
        rateLimited,
        waitMillis: waitMillis + (waiters > 0 ? now() - waitStartedAt : 0),
        requestsPerMinute: requests.limit,
        tokensPerMinute: tokens.limit
      })
    } satisfies RateController
  })
