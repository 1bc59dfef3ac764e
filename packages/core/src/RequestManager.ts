/**
 * The `RequestManager` service: runs batches of requests through a `Provider` with bounded
 * concurrency, single-flight deduplication, caching, retries that honour Retry-After, rate limits,
 * and live progress. One bad item never fails the batch: every item gets its own result.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { ApiResponse, Kind } from "./ApiRequest.js"
import type * as ApiRequest from "./ApiRequest.js"
import type { BatchStats } from "./BatchStats.js"
import * as CacheModule from "./Cache.js"
import type { ChatResponse } from "./ChatResponse.js"
import * as BatchProcess from "./internal/batchProcess.js"
import { Breaker } from "./internal/breaker.js"
import * as ItemCache from "./internal/itemCache.js"
import { keepsNothing } from "./internal/keepsNothing.js"
import * as ItemPipeline from "./internal/itemPipeline.js"
import * as Metrics from "./internal/metrics.js"
import { Aimd } from "./internal/adaptiveConcurrency.js"
import { mapOrdered, Ready } from "./internal/orderedWindow.js"
import { resultBytes } from "./internal/answer.js"
import * as ProviderCall from "./internal/providerCall.js"
import * as RateController from "./internal/rateController.js"
import { Slots } from "./internal/slots.js"
import * as Spending from "./internal/spending.js"
import * as Tracing from "./internal/tracing.js"
import { Counters, Tracker } from "./internal/tracker.js"
import type * as Cost from "./Cost.js"
import * as ItemResultModule from "./ItemResult.js"
import type { ProviderError } from "./LLMError.js"
import * as ProviderModule from "./Provider.js"

/**
 * Options of a RequestManager.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Maximum provider calls in flight at once. Default 64. */
  readonly concurrency?: number | undefined
  /**
   * Items in progress at once (waiting for a slot or in flight). An item waiting in a retry's
   * backoff steps aside and does not count (up to 16 × `window` of them), so retries never hold up
   * the items behind them. Larger than `concurrency` so that a slow item never idles a slot. Default
   * `concurrency * 2`: each doubling of the window measured ~+15% CPU per request at high request
   * rates (more items parked waiting for a slot).
   */
  readonly window?: number | undefined
  /** Timeout of each attempt. Default 60 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Retries after the first attempt, for retryable errors only. Default 4 (5 attempts). */
  readonly maxRetries?: number | undefined
  /**
   * The backoff between attempts. Default: the server's Retry-After when it gives one (plus up to
   * 10%); after a dropped connection while the server answers other calls, a quick retry (25 ms,
   * doubling); else exponential from 500 ms, doubling, jittered, capped at 30 s. With a schedule of
   * your own, a retry still never comes sooner than the server's Retry-After.
   */
  readonly retrySchedule?: Schedule.Schedule<unknown, ProviderError> | undefined
  /** Use the `Cache` service. Default true. */
  readonly cache?: boolean | undefined
  /** Expiry of the entries this manager writes. Default: the cache's own default. */
  readonly timeToLive?: Duration.DurationInput | undefined
  /** Requests-per-minute budget. Default: none, or what the server's headers say. */
  readonly requestsPerMinute?: number | undefined
  /** Tokens-per-minute budget (prompt estimate + max output, corrected by real usage). */
  readonly tokensPerMinute?: number | undefined
  /** Learn limits from `x-ratelimit-*` headers and slow down before the server refuses. Default true. */
  readonly learnRateLimits?: boolean | undefined
  /**
   * Cost budget in US dollars. Before each call, what was spent plus what calls in flight may
   * spend plus this call's estimate (prompt estimate + `max_tokens`, else the average answer) must
   * fit; once a call does not, no new call is sent and the remaining items fail with
   * `BudgetExceededError`. Answers already received are kept (and cached), so a rerun with a larger
   * budget continues where this one stopped. A model with no price cannot be budgeted: its items
   * fail with the same error, naming the model. Default: no budget.
   */
  readonly maxCost?: number | undefined
  /** Prices by model name, before `@pydantic/genai-prices`' table (see `Cost`). */
  readonly prices?: Cost.Prices | undefined
  /**
   * How much of a rate limit may be spent at once. Budgets are paced: a limit of L per minute lets
   * about L / 60 through per second, plus a burst of this long's worth. Default 1 second; raise it
   * for servers that enforce over longer windows.
   */
  readonly burst?: Duration.DurationInput | undefined
  /**
   * Adapt the number of calls in flight: start at min(concurrency, 16) and double while doubling
   * buys throughput (a server or a process that is saturated only queues more calls); cut by 30% on
   * a burst of 429s or timeouts (a share well above the recent level: a steady trickle of random
   * 429s cuts nothing); now and then try an eighth more and keep it if it pays. Never above
   * `concurrency`. Default true; `false` keeps `concurrency`.
   */
  readonly adaptiveConcurrency?: boolean | undefined
  /**
   * `stream`: results that finished ahead of an earlier item still running (in backoff, say) are
   * held for in-order output up to this many bytes (estimated), so an item in backoff does not
   * stall the items behind it. Default 32 MiB.
   */
  readonly maxBufferedBytes?: number | undefined
  /**
   * Spans for each `run` (`fastllm.batch`), each item (`fastllm.item MODEL`) and each provider
   * attempt (`chat MODEL` / `embeddings MODEL`, kind client), with the OpenTelemetry GenAI
   * attributes (`gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.usage.input_tokens`,
   * `gen_ai.usage.output_tokens`, `gen_ai.response.finish_reasons`, `error.type`, ...) and
   * `fastllm.cache_hit`, `fastllm.retries`, `fastllm.cost_usd`. Made only when a tracer is
   * installed (e.g. `@effect/opentelemetry`); no request or answer text unless `content: true`;
   * never a key or a header. `false` turns spans off. Default: on when a tracer is installed.
   */
  readonly tracing?: false | { readonly content?: boolean | undefined } | undefined
  /**
   * Fail fast when the server is unreachable: after `failures` items in a row failed to connect
   * even after their retries (default `max(16, concurrency)`), new items fail at once with a
   * `TransportError` saying so, for `cooldown` (default 30 s); then they are tried again and the
   * first success closes the breaker. `false` turns it off.
   */
  readonly circuitBreaker?: false | {
    readonly failures?: number | undefined
    readonly cooldown?: Duration.DurationInput | undefined
  } | undefined
}

/**
 * Fields common to every item result (also `ItemResult.ResultBase`).
 *
 * @since 0.1.0
 * @category models
 */
export type ResultBase = ItemResultModule.ResultBase

/**
 * A chat item that succeeded (also `ItemResult.ChatSuccess`).
 *
 * @since 0.1.0
 * @category models
 */
export type ChatSuccess = ItemResultModule.ChatSuccess

/**
 * An embeddings item that succeeded (also `ItemResult.EmbeddingSuccess`).
 *
 * @since 0.1.0
 * @category models
 */
export type EmbeddingSuccess = ItemResultModule.EmbeddingSuccess

/**
 * @since 0.1.0
 * @category models
 */
export type Success = ItemResultModule.Success

/**
 * An item that failed, with its typed error (also `ItemResult.Failure`).
 *
 * @since 0.1.0
 * @category models
 */
export type Failure = ItemResultModule.Failure

/**
 * The result of one item (also `ItemResult.ItemResult`).
 *
 * @since 0.1.0
 * @category models
 */
export type ItemResult = ItemResultModule.ItemResult

/**
 * The results of `run`, in input order, and the batch's final stats.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchResult {
  readonly results: ReadonlyArray<ItemResult>
  readonly stats: BatchStats
}

/**
 * Options of one `run` or `stream`.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** The number of items expected (streams), for progress and ETA. */
  readonly total?: number | undefined
}

/**
 * An input of `streamWith`: the request and the caller's value to carry with it.
 *
 * @since 0.2.0
 * @category models
 */
export interface WithMeta<M> {
  readonly meta: M
  readonly request: unknown
}

/**
 * An output of `streamWith`: the item's result and the value that came with its input.
 *
 * @since 0.2.0
 * @category models
 */
export interface ResultWithMeta<M> {
  readonly meta: M
  readonly result: ItemResult
}

/**
 * The RequestManager service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class RequestManager extends Context.Tag("@fastllm/core/RequestManager")<
  RequestManager,
  RequestManager.Service
>() {}

/**
 * @since 0.1.0
 */
export declare namespace RequestManager {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Runs a batch; results come back in input order with the batch's stats. Never fails. */
    readonly run: (requests: Iterable<ApiRequest.Input>, options?: RunOptions) => Effect.Effect<BatchResult>
    /**
     * Runs a stream of inputs of any size in constant memory; results come out in input order as
     * they finish (a sliding window: a new item starts as soon as one ends). Inputs are decoded
     * per item, so a bad one becomes a `Failure` result.
     */
    readonly stream: <E, R>(
      requests: Stream.Stream<unknown, E, R>,
      options?: RunOptions
    ) => Stream.Stream<ItemResult, E, R>
    /**
     * `stream` where each input carries a value of the caller's (`meta`: a line number, a parsed
     * record, an id) that comes back with its result, in input order. Use it instead of keeping a
     * side table from `index` to your data.
     */
    readonly streamWith: <M, E, R>(
      requests: Stream.Stream<WithMeta<M>, E, R>,
      options?: RunOptions
    ) => Stream.Stream<ResultWithMeta<M>, E, R>
    /** Runs one input (decoded here; `kind` forces chat or embeddings). */
    readonly execute: (input: unknown, options?: { readonly kind?: Kind | undefined }) => Effect.Effect<ItemResult>
    /** The stats of everything this manager has run so far. */
    readonly snapshot: Effect.Effect<BatchStats>
    /** Snapshots every `interval` (default 1 second), for progress bars. */
    readonly progress: (interval?: Duration.DurationInput) => Stream.Stream<BatchStats>
    /** The provider's name, as used in request keys. */
    readonly providerName: string
  }
}

/**
 * Builds a RequestManager over the `Provider` and `Cache` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<RequestManager.Service, never, ProviderModule.Provider | CacheModule.Cache | Scope.Scope> =>
  Effect.gen(function*() {
    const provider = yield* ProviderModule.Provider
    const clock = yield* Effect.clock
    const concurrency = Math.max(1, options.concurrency ?? 64)
    const window = Math.max(concurrency, options.window ?? concurrency * 2)
    const rate = yield* RateController.make({
      requestsPerMinute: options.requestsPerMinute,
      tokensPerMinute: options.tokensPerMinute,
      learnFromHeaders: options.learnRateLimits ?? true,
      burst: options.burst
    })
    const adaptive = options.adaptiveConcurrency === false ? undefined : new Aimd({ max: concurrency })
    const slots = new Slots(adaptive === undefined ? concurrency : Math.round(adaptive.limit))
    const ordering = { workers: window, maxBufferedBytes: options.maxBufferedBytes ?? 32 * 1024 * 1024, sizeOf: resultBytes }
    const cacheService = options.cache === false ? undefined : yield* CacheModule.Cache
    const cache = cacheService === undefined || keepsNothing(cacheService)
      ? undefined
      : ItemCache.make(cacheService, options.timeToLive)
    const breaker = options.circuitBreaker === false ? undefined : new Breaker(
      Math.max(1, options.circuitBreaker?.failures ?? Math.max(16, concurrency)),
      Duration.decode(options.circuitBreaker?.cooldown ?? "30 seconds")
    )
    const spending = Spending.make({ prices: options.prices, maxCost: options.maxCost })
    const tracing = options.tracing === false ? Tracing.none : Tracing.make(options.tracing)
    const pipeline = ItemPipeline.make({
      providerName: provider.name,
      cache,
      callProvider: ProviderCall.make({
        provider,
        rate,
        slots,
        adaptive,
        clock,
        cache,
        breaker,
        timeout: Duration.decode(options.timeout ?? "60 seconds"),
        maxRetries: Math.max(0, options.maxRetries ?? 4),
        retrySchedule: options.retrySchedule,
        spending,
        tracing
      }),
      tracing
    })
    const execute = pipeline.execute
    const concurrencyNow = () => ({ configured: concurrency, current: slots.size })
    const service = new Tracker(clock.unsafeCurrentTimeMillis(), rate, concurrencyNow, spending.budget)

    /** The counters of a new run: its own tracker, and the manager's. */
    const newRun = (total: number | undefined) =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const run = new Tracker(now, rate, concurrencyNow, spending.budget)
        if (total !== undefined) {
          run.expectedTotal = total
          service.expectedTotal += total
        }
        return new Counters(service, run)
      })

    /**
     * `stream` and `streamWith`: mapOrdered's workers take the items on the spot, hits and bad inputs
     * answered without an effect (`pipeline.start`), each result with its input's `meta`
     * (`node --conditions=@fastllm/source --import tsx bench/lib/streamSteps.ts --base c51aef8`).
     */
    const streamed = <I, O, E, R>(
      requests: Stream.Stream<I, E, R>,
      total: number | undefined,
      request: (input: I) => unknown,
      output: (input: I, result: ItemResult) => O,
      sizeOf: (out: O) => number
    ): Stream.Stream<O, E, R> =>
      Stream.unwrap(Effect.flatMap(newRun(total), (counters) =>
        Effect.map(tracing.enabled, (traced) => {
          const now = () => clock.unsafeCurrentTimeMillis()
          return mapOrdered(requests, { ...ordering, sizeOf }, (input, index) => {
            counters.submitted(1)
            const started = pipeline.start(request(input), index, counters, traced, now)
            return started instanceof Ready
              ? new Ready(output(input, started.value))
              : Effect.map(started, (result) => output(input, result))
          })
        })))

    const streamWith: RequestManager.Service["streamWith"] = (requests, runOptions) =>
      streamed(
        requests,
        runOptions?.total,
        (input) => input.request,
        (input, result) => ({ meta: input.meta, result }),
        (out) => resultBytes(out.result)
      )

    const snapshot = Effect.map(Clock.currentTimeMillis, (now) => service.snapshot(now))
    const serviceOnly = new Counters(service, undefined)

    return {
      providerName: provider.name,
      run: (requests, runOptions) =>
        Effect.suspend(() => {
          const items = Array.from(requests)
          return tracing.batch(
            items.length,
            Effect.gen(function*() {
              const counters = yield* newRun(runOptions?.total ?? items.length)
              counters.submitted(items.length)
              // the ordered driver for what needs effects (items in backoff park: orderedWindow.ts),
              // hits and bad inputs answered on the way in (itemPipeline.ts `runAll`)
              const results = yield* pipeline.runAll(items, ordering, counters)
              return { results, stats: counters.run!.snapshot(yield* Clock.currentTimeMillis) }
            })
          )
        }),
      stream: (requests, runOptions) =>
        streamed(requests, runOptions?.total, (input) => input, (_, result) => result, resultBytes),
      streamWith,
      execute: (input, executeOptions) =>
        Effect.suspend(() => {
          serviceOnly.submitted(1)
          return execute(input, service.submitted - 1, executeOptions?.kind, serviceOnly)
        }),
      snapshot,
      progress: (interval = "1 second") => Stream.repeatEffectWithSchedule(snapshot, Schedule.spaced(interval))
    }
  })

/**
 * A RequestManager layer. Provide a `Provider` and a `Cache` (use `Cache.none` for no cache).
 *
 * @since 0.1.0
 * @category layers
 * @example
 * ```ts
 * import { Cache, RequestManager } from "@fastllm/core"
 * import { OpenAiProvider } from "@fastllm/provider-openai"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * const program = Effect.gen(function*() {
 *   const manager = yield* RequestManager.RequestManager
 *   const { results, stats } = yield* manager.run([
 *     { model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hi" }] }
 *   ])
 *   return { results, stats }
 * })
 *
 * const MainLayer = RequestManager.layer({ concurrency: 100 }).pipe(
 *   Layer.provide(OpenAiProvider.layerConfig()),
 *   Layer.provide(Cache.memory())
 * )
 * ```
 */
export const layer = (
  options?: Options
): Layer.Layer<RequestManager, never, ProviderModule.Provider | CacheModule.Cache> =>
  Layer.scoped(RequestManager, make(options))

/**
 * The Effect Metrics every RequestManager updates: items finished and failed, cache hits, API
 * calls, retries, prompt and completion tokens (counters), and the duration of each provider call
 * (a histogram in milliseconds). Read them with `Metric.value`, or export them with your metrics
 * layer.
 *
 * @since 0.1.0
 * @category metrics
 */
export const metrics = Metrics.metrics

/**
 * Runs a batch with the RequestManager in context.
 *
 * @since 0.1.0
 * @category accessors
 */
export const run = (
  requests: Iterable<ApiRequest.Input>,
  options?: RunOptions
): Effect.Effect<BatchResult, never, RequestManager> =>
  Effect.flatMap(RequestManager, (manager) => manager.run(requests, options))

/**
 * The chat response of a success, or undefined for an embeddings result or a failure.
 *
 * @since 0.1.0
 * @category getters
 */
export const chatResponse: (result: ItemResult) => ChatResponse | undefined = ItemResultModule.chatResponse

/**
 * The tagged response of a success.
 *
 * @since 0.1.0
 * @category getters
 */
export const apiResponse: (result: ItemResult) => ApiResponse | undefined = ItemResultModule.apiResponse

/**
 * Runs a `RequestBatch` (or plain requests) with the RequestManager in context.
 *
 * @deprecated Use `RequestBatch.process`, the one name for processing a batch; this alias goes in
 * the next minor release.
 * @since 0.1.0
 * @category accessors
 */
export const processBatch = (
  batch: BatchProcess.BatchLike | Iterable<ApiRequest.Input>
): Effect.Effect<BatchProcess.ProcessedBatch, never, RequestManager> =>
  Effect.flatMap(RequestManager, (manager) => BatchProcess.processWith(manager, batch))
