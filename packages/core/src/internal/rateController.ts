import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { ApiRequest, ApiResponse } from "../ApiRequest.js"
import { type ProviderError, RateLimitError } from "../LLMError.js"
import type { RateLimitInfo } from "../RateLimitHeaders.js"
import { Budget, bucketEmpty, burstCapacity, positive, roundTripRefill } from "./rateBudget.js"
import * as TokenEstimate from "./tokenEstimate.js"

/*
 * The rate controller of a RequestManager: a requests-per-minute and a tokens-per-minute budget,
 * learned limits, one shared 429 gate, and insufficient-quota fail-fast. The budget arithmetic is
 * in rateBudget.ts.
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

/**
 * What one attempt carries from `acquire` to `onReply` / `onError`: its token estimate and where
 * it stood when it was admitted (the budgets' `reserved` counters just after its own reservation).
 *
 * @internal
 */
export interface Ticket {
  readonly estimatedTokens: number
  readonly requests: number
  readonly tokens: number
  readonly admittedAt: number
}

/**
 * What the RequestManager asks of rate limiting, once per provider attempt.
 *
 * @internal
 */
export interface RateController {
  /** The tokens this request is expected to consume (prompt estimate + max output). */
  readonly estimate: (request: ApiRequest) => number
  /**
   * Waits until the request may be sent: the shared 429 gate, then the request and token budgets.
   * Fails fast with a quota `RateLimitError` once the account is out of quota.
   */
  readonly acquire: (estimatedTokens: number) => Effect.Effect<Ticket, RateLimitError>
  /**
   * `acquire` on the spot when it has nothing to wait for and nothing to refuse (no limits known,
   * the gate open, no quota failure): the ticket; else undefined, and nothing was taken (run
   * `acquire`). For an attempt run as one callback (providerCall.ts).
   */
  readonly tryAcquire: (estimatedTokens: number) => Ticket | undefined
  /** After a response: learn from its headers, and correct the token budget with real usage. */
  readonly onReply: (ticket: Ticket, response: ApiResponse, info: RateLimitInfo | undefined) => Effect.Effect<void>
  /**
   * `onReply` done on the spot when it needs no effect (no token limit, nothing learned from
   * headers): undefined; else the effect to run, as `onReply`. Saves an effect and a map per reply
   * on the common path (`npx tsx bench/lib/opCount.ts --base e5531d1`).
   */
  readonly replied: (ticket: Ticket, response: ApiResponse, info: RateLimitInfo | undefined) => Effect.Effect<void> | undefined
  /** After a failed attempt: a 429 pauses the whole batch; insufficient quota stops sending. */
  readonly onError: (ticket: Ticket, error: ProviderError) => Effect.Effect<void>
  /** For stats and progress. */
  readonly snapshot: () => {
    readonly rateLimited: number
    /** 429s that said the bucket still had room: only their own request backed off. */
    readonly isolated: number
    readonly waitMillis: number
    readonly requestsPerMinute: number | undefined
    readonly tokensPerMinute: number | undefined
  }
}

/** @internal */
export interface Options {
  readonly requestsPerMinute: number | undefined
  readonly tokensPerMinute: number | undefined
  readonly learnFromHeaders: boolean
  /** How much of a limit may go at once: the bucket holds this long's worth. Default 1 second. */
  readonly burst?: Duration.DurationInput | undefined
}

/** How long the gate stays shut after a 429 that says nothing about when to come back. */
const defaultPauseMillis = 1_000

/** Keys in the limiter's store. */
const requestsKey = "@fastllm/core/RequestManager/requests"
const tokensKey = "@fastllm/core/RequestManager/tokens"

const delayOf = (result: RateLimiter.ConsumeResult | undefined): number =>
  result === undefined ? 0 : Duration.toMillis(result.delay)

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
export const make = (options: Options): Effect.Effect<RateController, never, Scope.Scope> =>
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
    // Paced budgets: a limit of L per minute is a bucket of `burst`'s worth (at least one
    // request) refilled at L / 60 per second, so a run never fires a minute's quota at once.
    const window = Duration.max(Duration.millis(1), Duration.decode(options.burst ?? "1 second"))
    const capacityOf = (budget: Budget, limit: number) => burstCapacity(limit, Duration.toMillis(window), budget === requests ? 1 : 0)

    let pausedUntil = 0
    let quota: RateLimitError | undefined
    /** Errors this controller made (fail-fast on quota): not the server's, so not counted. */
    const own = new WeakSet<object>()
    let rateLimited = 0
    let isolated = 0
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

    /**
     * Takes `amount` from a budget's bucket (negative: gives it back); the bucket's level after it.
     * The limiter refuses a cost above the bucket's size, so a larger one is taken in steps.
     */
    const consume = (
      budget: Budget,
      perMinute: number,
      amount: number
    ): Effect.Effect<RateLimiter.ConsumeResult | undefined> => {
      const limit = capacityOf(budget, perMinute)
      const once = (tokens: number) =>
        limiter.consume({ algorithm: "token-bucket", onExceeded: "delay", window, limit, key: budget.key, tokens })
      const taken = amount <= limit
        ? once(amount)
        : Effect.flatMap(
          Effect.forEach(Array.from({ length: Math.floor(amount / limit) }), () => once(limit), { discard: true }),
          () => once(amount % limit)
        )
      return Effect.catchAll(taken, (error) =>
        Effect.as(Effect.logWarning("FastLLM: the rate limiter's store failed; sending unthrottled", error), undefined))
    }

    /**
     * Lowers a bucket to `target()` (never raises it). The target is read together with the level
     * (it depends on reservations made meanwhile); the bucket is lowered by a difference, so
     * reservations racing with it are kept. Costs above the limit are taken in steps.
     */
    const lowerTo = (budget: Budget, limit: number, target: () => number): Effect.Effect<void> =>
      Effect.flatMap(consume(budget, limit, 0), (result) => {
        const excess = result === undefined ? 0 : result.remaining - target()
        return excess <= 0 ? Effect.void : Effect.asVoid(consume(budget, limit, excess))
      })

    /** Reserves one request and the estimated tokens: the ticket (not yet admitted) and the delay until it is due. */
    const reserve = (estimatedTokens: number): Effect.Effect<readonly [Ticket, number]> =>
      Effect.suspend(() => {
        const requestLimit = requests.limit
        const tokenLimit = tokens.limit
        const charged = estimatedTokens
        requests.reserved += 1
        tokens.reserved += charged
        const ticket: Ticket = { estimatedTokens, requests: requests.reserved, tokens: tokens.reserved, admittedAt: 0 }
        const delays: Array<Effect.Effect<number>> = []
        if (requestLimit !== undefined) delays.push(Effect.map(consume(requests, requestLimit, 1), delayOf))
        if (tokenLimit !== undefined && charged > 0) {
          delays.push(Effect.map(consume(tokens, tokenLimit, charged), delayOf))
        }
        if (delays.length === 0) return Effect.succeed([ticket, 0] as const)
        return Effect.map(Effect.all(delays), (ds) => [ticket, Math.max(...ds)] as const)
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

    const admit = (ticket: Ticket): Effect.Effect<Ticket, RateLimitError> =>
      Effect.suspend(() => quota !== undefined ? quotaFailure() : Effect.succeed({ ...ticket, admittedAt: now() }))

    const tryAcquire = (estimatedTokens: number): Ticket | undefined => {
      if (quota !== undefined || requests.limit !== undefined || tokens.limit !== undefined) return undefined
      const at = now()
      if (pausedUntil > at) return undefined
      // Nothing to wait for (no limits known yet): count, and keep marks for the first replies.
      requests.reserved += 1
      tokens.reserved += estimatedTokens
      return { estimatedTokens, requests: requests.reserved, tokens: tokens.reserved, admittedAt: at }
    }

    const acquire = (estimatedTokens: number): Effect.Effect<Ticket, RateLimitError> =>
      Effect.suspend((): Effect.Effect<Ticket, RateLimitError> => {
        if (quota !== undefined) return quotaFailure()
        const ticket = tryAcquire(estimatedTokens)
        if (ticket !== undefined) return Effect.succeed(ticket)
        return waitGate.pipe(
          Effect.zipRight(reserve(estimatedTokens)),
          Effect.flatMap(([ticket, delay]) =>
            (delay > 0 ? waitFor(delay) : Effect.void).pipe(Effect.zipRight(waitGate), Effect.zipRight(admit(ticket)))
          )
        )
      })

    /** Records a reply's remaining count and lowers the bucket to what the server's counts say. */
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
      const first = budget.record({ remaining, perMinute, mark, admittedAt })
      const headroom = first
        ? Effect.asVoid(consume(budget, limit, Math.min(capacityOf(budget, limit), roundTripRefill(now(), admittedAt, perMinute))))
        : Effect.void
      return Effect.zipRight(headroom, lowerTo(budget, limit, () => budget.target(now())))
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
    const correct = (ticket: Ticket, response: ApiResponse, info: RateLimitInfo | undefined) =>
      Effect.suspend(() => {
        learnCompletion(response)
        if (learn && info !== undefined) learnLimits(info)
        const work: Array<Effect.Effect<void>> = []
        const usage = response.response.usage
        const tokenLimit = tokens.limit
        if (tokenLimit !== undefined && usage != null) {
          const extra = usage.total_tokens - ticket.estimatedTokens
          if (extra > 0) {
            tokens.reserved += extra
            work.push(Effect.asVoid(consume(tokens, tokenLimit, extra)))
          }
        }
        if (learn && info !== undefined) {
          work.push(syncTo(requests, info.remainingRequests, info.limitRequests, ticket.requests, ticket.admittedAt))
          work.push(syncTo(tokens, info.remainingTokens, info.limitTokens, ticket.tokens, ticket.admittedAt))
        }
        return Effect.all(work, { discard: true })
      })

    const replied = (ticket: Ticket, response: ApiResponse, info: RateLimitInfo | undefined) => {
      if ((!learn || info === undefined) && tokens.limit === undefined) {
        learnCompletion(response)
        return undefined
      }
      return correct(ticket, response, info)
    }
    const onReply = (ticket: Ticket, response: ApiResponse, info: RateLimitInfo | undefined) =>
      Effect.suspend(() => replied(ticket, response, info) ?? Effect.void)

    const onError = (ticket: Ticket, error: ProviderError) =>
      Effect.suspend(() => {
        if (own.has(error)) return Effect.void
        if (error._tag !== "RateLimitError") return Effect.void
        rateLimited++
        if (error.kind === "quota") {
          quota ??= error
          return Effect.void
        }
        if (!bucketEmpty(error, ticket)) {
          // An isolated 429: only this request backs off (its retry honours Retry-After).
          isolated++
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
      tryAcquire,
      onReply,
      replied,
      onError,
      snapshot: () => ({
        rateLimited,
        isolated,
        waitMillis: waitMillis + (waiters > 0 ? now() - waitStartedAt : 0),
        requestsPerMinute: requests.limit,
        tokensPerMinute: tokens.limit
      })
    } satisfies RateController
  })
