import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as ApiRequest from "../ApiRequest.js"
import * as CacheModule from "../Cache.js"
import { type CacheError, isRetryable, type ProviderError, retryAfter, TimeoutError, TransportError } from "../LLMError.js"
import * as ProviderModule from "../Provider.js"
import * as RequestKey from "../RequestKey.js"
import type * as RM from "../RequestManager.js"
import * as TokenStats from "../TokenStats.js"
import { mapOrdered } from "./orderedWindow.js"
import { makeRateController } from "./rateLimiter.js"
import { Slots } from "./slots.js"
import { Breaker } from "./breaker.js"
import { forEachTracker, Tracker } from "./tracker.js"

/** @internal */
export const metrics = {
  items: Metric.counter("fastllm_items_total", { description: "Items finished", incremental: true }),
  failures: Metric.counter("fastllm_item_failures_total", { description: "Items failed", incremental: true }),
  cacheHits: Metric.counter("fastllm_cache_hits_total", { description: "Items answered from the cache", incremental: true }),
  apiCalls: Metric.counter("fastllm_api_calls_total", { description: "Provider calls (every attempt)", incremental: true }),
  retries: Metric.counter("fastllm_retries_total", { description: "Attempts after the first", incremental: true }),
  promptTokens: Metric.counter("fastllm_prompt_tokens_total", { incremental: true }),
  completionTokens: Metric.counter("fastllm_completion_tokens_total", { incremental: true }),
  latency: Metric.timerWithBoundaries(
    "fastllm_api_call_duration",
    MetricBoundaries.exponential({ start: 5, factor: 2, count: 14 }).values,
    "Duration of provider calls (milliseconds)"
  )
}

const noTags: ReadonlyArray<MetricLabel.MetricLabel> = []

type Outcome =
  | { readonly _tag: "Success"; readonly response: ApiRequest.ApiResponse; readonly fromCache: boolean; readonly attempts: number }
  | { readonly _tag: "Failure"; readonly error: ProviderError; readonly attempts: number }

const tokensOf = (response: ApiRequest.ApiResponse): TokenStats.TokenStats => TokenStats.fromUsage(response.response.usage)

const kindOf = (request: ApiRequest.ApiRequest): ApiRequest.Kind => request._tag === "Chat" ? "chat" : "embedding"

const defaultRetrySchedule: Schedule.Schedule<unknown, ProviderError> = Schedule.exponential("500 millis", 2).pipe(
  Schedule.jittered,
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(30)))
)

/** Never sooner than the server's Retry-After: intersected schedules wait for the longer delay. */
const honourRetryAfter: Schedule.Schedule<ProviderError, ProviderError> = Schedule.identity<ProviderError>().pipe(
  Schedule.addDelay((error) => retryAfter(error) ?? Duration.zero)
)

const toResult = (
  index: number,
  key: string,
  kind: ApiRequest.Kind,
  outcome: Outcome,
  deduplicated: boolean
): RM.ItemResult => {
  if (outcome._tag === "Failure") {
    return { _tag: "Failure", index, key, kind, error: outcome.error, attempts: deduplicated ? 0 : outcome.attempts }
  }
  const common = {
    _tag: "Success",
    index,
    key,
    attempts: deduplicated ? 0 : outcome.attempts,
    fromCache: outcome.fromCache,
    deduplicated,
    tokens: tokensOf(outcome.response)
  } as const
  return outcome.response._tag === "Chat"
    ? { ...common, kind: "chat", response: outcome.response.response }
    : { ...common, kind: "embedding", response: outcome.response.response }
}

/** @internal */
export const make = (
  options: RM.Options = {}
): Effect.Effect<RM.RequestManager.Service, never, ProviderModule.Provider | CacheModule.Cache | Scope.Scope> =>
  Effect.gen(function*() {
    const provider = yield* ProviderModule.Provider
    const cache = yield* CacheModule.Cache
    const concurrency = Math.max(1, options.concurrency ?? 64)
    const window = Math.max(concurrency, options.window ?? concurrency * 2)
    const timeout = Duration.decode(options.timeout ?? "60 seconds")
    const maxRetries = Math.max(0, options.maxRetries ?? 4)
    const useCache = options.cache ?? true
    const setOptions = options.timeToLive === undefined ? undefined : { timeToLive: options.timeToLive }
    const rate = yield* makeRateController({
      requestsPerMinute: options.requestsPerMinute,
      tokensPerMinute: options.tokensPerMinute,
      learnFromHeaders: options.learnRateLimits ?? true
    })
    const slots = new Slots(concurrency)
    const retryPolicy = (options.retrySchedule ?? defaultRetrySchedule).pipe(
      Schedule.intersect(Schedule.recurs(maxRetries)),
      Schedule.intersect(honourRetryAfter)
    )
    const serviceTracker = new Tracker(yield* Clock.currentTimeMillis, rate)
    const clock = yield* Effect.clock
    const breaker = options.circuitBreaker === false ? undefined : new Breaker(
      Math.max(1, options.circuitBreaker?.failures ?? Math.max(16, concurrency)),
      Duration.decode(options.circuitBreaker?.cooldown ?? "30 seconds")
    )
    const breakerOpen = () => breaker !== undefined && breaker.isOpen(clock.unsafeCurrentTimeMillis())
    const inFlight = new Map<string, Array<(outcome: Outcome | undefined) => void>>()

    /** A failing cache never fails an item: the failure is counted, logged, and `fallback` used. */
    const surviveCacheFailure = <A>(
      effect: Effect.Effect<A, CacheError>,
      fallback: A,
      what: string,
      trackers: ReadonlyArray<Tracker>
    ): Effect.Effect<A> =>
      Effect.catchAllCause(effect, (cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.zipRight(
          Effect.sync(() => forEachTracker(trackers, (t) => t.cacheErrors++)),
          Effect.as(Effect.logWarning(`FastLLM: ${what}`, Cause.squash(cause)), fallback)
        ))

    const cacheGet = (key: string, trackers: ReadonlyArray<Tracker>) =>
      surviveCacheFailure(cache.get(key), Option.none(), "cache read failed; treating it as a miss", trackers)

    const cacheSet = (key: string, value: ApiRequest.ApiResponse, trackers: ReadonlyArray<Tracker>) =>
      surviveCacheFailure(
        cache.set(key, value, setOptions),
        undefined,
        "cache write failed; the answer is returned but not kept",
        trackers
      )

    const callOptions: ProviderModule.CallOptions = { timeout }
    const withTimeout = provider.enforcesTimeout === true || !Duration.isFinite(timeout)
      ? <A>(effect: Effect.Effect<A, ProviderError>) => effect
      : <A>(effect: Effect.Effect<A, ProviderError>) =>
        Effect.timeoutFail(effect, { duration: timeout, onTimeout: () => new TimeoutError({ timeout }) })
    const attemptStarted = (t: Tracker) => {
      t.apiCalls++
      t.inFlight++
    }
    const attemptTimed = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.suspend(() => {
        const started = clock.unsafeCurrentTimeMillis()
        metrics.apiCalls.unsafeUpdate(1, noTags)
        return Effect.ensuring(
          effect,
          Effect.sync(() => metrics.latency.unsafeUpdate(Duration.millis(clock.unsafeCurrentTimeMillis() - started), noTags))
        )
      })
    const attemptEnded = (t: Tracker) => {
      t.inFlight--
    }

    /**
     * One provider call: take a slot, then wait for the rate limits, then send with the attempt
     * timeout. The limits are taken inside the slot so that after a 429 or an exhausted quota at
     * most `concurrency` calls (not the whole window) have already been let through.
     */
    const attempt = (request: ApiRequest.ApiRequest, estimate: number, trackers: ReadonlyArray<Tracker>) =>
      slots.withSlot(
        Effect.zipRight(
          rate.acquire(estimate),
          Effect.suspend(() => {
            forEachTracker(trackers, attemptStarted)
            return withTimeout(ProviderModule.send(provider, request, callOptions)).pipe(
              Effect.catchAllDefect((defect) =>
                Effect.fail(new TransportError({ reason: `the provider failed unexpectedly: ${String(defect)}` }))
              ),
              attemptTimed,
              Effect.ensuring(Effect.sync(() => forEachTracker(trackers, attemptEnded)))
            )
          })
        )
      ).pipe(
        Effect.tapBoth({
          onFailure: (error) => rate.onError(estimate, error),
          onSuccess: (reply) => rate.onReply(estimate, reply.response, reply.rateLimit)
        })
      )

    /**
     * Attempts with retries. The schedule driver is only built after a first retryable failure:
     * `Effect.retry` costs several microseconds per item even when nothing fails.
     */
    const withRetries = <A>(
      once: Effect.Effect<A, ProviderError>
    ): Effect.Effect<A, ProviderError> => {
      const retryFrom = (
        error: ProviderError,
        driver: Schedule.ScheduleDriver<unknown, ProviderError, never>
      ): Effect.Effect<A, ProviderError> =>
        driver.next(error).pipe(
          Effect.matchEffect({
            onFailure: () => Effect.fail(error),
            onSuccess: () =>
              Effect.catchAll(
                once,
                (next) => isRetryable(next) && !breakerOpen() ? retryFrom(next, driver) : Effect.fail(next)
              )
          })
        )
      return Effect.catchAll(
        once,
        (error) =>
          isRetryable(error) && maxRetries > 0
            ? Effect.flatMap(Schedule.driver(retryPolicy), (driver) => retryFrom(error, driver))
            : Effect.fail(error)
      )
    }

    const onProviderDone = (
      key: string,
      attempts: number,
      exit: Either.Either<ProviderModule.Reply<ApiRequest.ApiResponse>, ProviderError>,
      trackers: ReadonlyArray<Tracker>
    ): Effect.Effect<Outcome> => {
      const retries = attempts - 1
      if (retries > 0) forEachTracker(trackers, (t) => t.retries += retries)
      if (retries > 0) metrics.retries.unsafeUpdate(retries, noTags)
      breaker?.record(Either.isLeft(exit) ? exit.left : undefined, clock.unsafeCurrentTimeMillis())
      if (Either.isLeft(exit)) {
        return Effect.succeed({ _tag: "Failure", error: exit.left, attempts })
      }
      const outcome: Outcome = { _tag: "Success", response: exit.right.response, fromCache: false, attempts }
      return useCache ? Effect.as(cacheSet(key, exit.right.response, trackers), outcome) : Effect.succeed(outcome)
    }

    /** The provider with retries, then cache set. */
    const callProvider = (
      key: string,
      request: ApiRequest.ApiRequest,
      trackers: ReadonlyArray<Tracker>
    ): Effect.Effect<Outcome> =>
      Effect.suspend(() => {
        if (breaker !== undefined && breakerOpen()) {
          return Effect.succeed<Outcome>({ _tag: "Failure", error: breaker.rejection(), attempts: 0 })
        }
        const estimate = rate.estimate(request)
        let attempts = 0
        const once = Effect.suspend(() => {
          attempts++
          return attempt(request, estimate, trackers)
        })
        return Effect.flatMap(
          Effect.either(withRetries(once)),
          (exit) => onProviderDone(key, attempts, exit, trackers)
        )
      })

    /** Cache, then the provider. Run once per key in flight. */
    const compute = (
      key: string,
      request: ApiRequest.ApiRequest,
      trackers: ReadonlyArray<Tracker>
    ): Effect.Effect<Outcome> =>
      useCache
        ? Effect.flatMap(cacheGet(key, trackers), (hit) =>
          Option.isSome(hit) && hit.value._tag === request._tag
            ? Effect.succeed<Outcome>({ _tag: "Success", response: hit.value, fromCache: true, attempts: 0 })
            : callProvider(key, request, trackers))
        : callProvider(key, request, trackers)

    /**
     * Single-flight: the first item with a key computes; identical items in flight wait for it.
     * A plain waiter list instead of a `Deferred`: the leader pays nothing unless someone waits.
     */
    const singleFlight = (
      key: string,
      request: ApiRequest.ApiRequest,
      trackers: ReadonlyArray<Tracker>
    ): Effect.Effect<{ readonly outcome: Outcome; readonly shared: boolean }> =>
      Effect.suspend(() => {
        const running = inFlight.get(key)
        if (running !== undefined) {
          return Effect.flatMap(
            Effect.async<Outcome | undefined>((resume) => {
              running.push((outcome) => resume(Effect.succeed(outcome)))
            }),
            (outcome) =>
              outcome === undefined
                ? singleFlight(key, request, trackers) // the leader was interrupted: take over
                : Effect.succeed({ outcome, shared: true })
          )
        }
        const waiters: Array<(outcome: Outcome | undefined) => void> = []
        inFlight.set(key, waiters)
        return compute(key, request, trackers).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              inFlight.delete(key)
              const outcome = exit._tag === "Success" ? exit.value : undefined
              for (const wake of waiters) wake(outcome)
            })
          ),
          Effect.map((outcome) => ({ outcome, shared: false }))
        )
      })

    /**
     * Counts a finished item. Metrics are updated with `unsafeUpdate` (synchronous, no fiber
     * context): per-item `Metric.increment` effects cost ~1 µs each on a path taken millions of
     * times. The price: labels set with `Effect.tagMetrics` are not applied to these metrics.
     */
    const finish = (result: RM.ItemResult, trackers: ReadonlyArray<Tracker>): RM.ItemResult => {
      forEachTracker(trackers, (t) => {
        if (result._tag === "Success") {
          t.succeeded++
          if (result.fromCache) t.cached++
          if (result.deduplicated) t.deduplicated++
          else if (!result.fromCache) t.tokens = TokenStats.add(t.tokens, result.tokens)
        } else {
          t.failed++
          const kind = result.error._tag === "RateLimitError" && result.error.kind === "quota"
            ? "InsufficientQuota"
            : result.error._tag
          t.failuresByKind[kind] = (t.failuresByKind[kind] ?? 0) + 1
        }
      })
      metrics.items.unsafeUpdate(1, noTags)
      if (result._tag === "Failure") metrics.failures.unsafeUpdate(1, noTags)
      else if (result.fromCache) metrics.cacheHits.unsafeUpdate(1, noTags)
      else if (!result.deduplicated) {
        metrics.promptTokens.unsafeUpdate(result.tokens.promptTokens, noTags)
        metrics.completionTokens.unsafeUpdate(result.tokens.completionTokens, noTags)
      }
      return result
    }

    const executeWith = (
      input: unknown,
      index: number,
      kind: ApiRequest.Kind | undefined,
      trackers: ReadonlyArray<Tracker>
    ): Effect.Effect<RM.ItemResult> =>
      Effect.suspend(() => {
        const decoded = ApiRequest.decode(input, kind)
        if (Either.isLeft(decoded)) {
          return Effect.succeed(
            finish({ _tag: "Failure", index, key: undefined, kind, error: decoded.left, attempts: 0 }, trackers)
          )
        }
        const request = decoded.right
        const key = RequestKey.make(provider.name, request)
        return Effect.map(
          singleFlight(key, request, trackers),
          ({ outcome, shared }) => finish(toResult(index, key, kindOf(request), outcome, shared), trackers)
        )
      })

    const newRunTracker = (total: number | undefined) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const tracker = new Tracker(now, rate)
        if (total !== undefined) {
          tracker.expectedTotal = total
          serviceTracker.expectedTotal += total
        }
        return [serviceTracker, tracker] as const
      })

    const submitted = (trackers: ReadonlyArray<Tracker>, n: number) =>
      forEachTracker(trackers, (t) => t.submitted += n)

    const run: RM.RequestManager.Service["run"] = (requests, runOptions) =>
      Effect.gen(function*() {
        const items = Array.from(requests)
        const trackers = yield* newRunTracker(runOptions?.total ?? items.length)
        submitted(trackers, items.length)
        const results = yield* Effect.forEach(
          items,
          (input, index) => executeWith(input, index, undefined, trackers),
          { concurrency: window }
        )
        const now = yield* Clock.currentTimeMillis
        return { results, stats: trackers[1].snapshot(now) }
      })

    const stream: RM.RequestManager.Service["stream"] = (requests, runOptions) =>
      Stream.unwrap(Effect.map(newRunTracker(runOptions?.total), (trackers) =>
        mapOrdered(requests, window, (input, index) => {
          submitted(trackers, 1)
          return executeWith(input, index, undefined, trackers)
        })))

    const snapshot = Effect.map(Clock.currentTimeMillis, (now) => serviceTracker.snapshot(now))

    return {
      providerName: provider.name,
      run,
      stream,
      execute: (input, executeOptions) =>
        Effect.suspend(() => {
          submitted([serviceTracker], 1)
          return executeWith(input, serviceTracker.submitted - 1, executeOptions?.kind, [serviceTracker])
        }),
      snapshot,
      progress: (interval = "1 second") => Stream.repeatEffectWithSchedule(snapshot, Schedule.spaced(interval))
    }
  })

