/**
 * The `RequestManager` service: runs batches of requests through a `Provider` with bounded
 * concurrency, single-flight deduplication, caching, retries that honour Retry-After, rate limits,
 * and live progress. One bad item never fails the batch: every item gets its own result.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { ApiResponse, Kind } from "./ApiRequest.js"
import type * as ApiRequest from "./ApiRequest.js"
import type { BatchStats } from "./BatchStats.js"
import type { Cache } from "./Cache.js"
import type { ChatResponse } from "./ChatResponse.js"
import type { EmbeddingResponse } from "./Embedding.js"
import * as internal from "./internal/requestManager.js"
import type { ProviderError } from "./LLMError.js"
import type { Provider } from "./Provider.js"
import type { TokenStats } from "./TokenStats.js"

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
   * Items in progress at once (waiting for a slot, in backoff, or in flight). Larger than
   * `concurrency` so that a slow item or one sleeping in backoff never idles a slot. Default
   * `concurrency * 2`: each doubling of the window measured ~+15% CPU per request at high request
   * rates (more items parked waiting for a slot).
   */
  readonly window?: number | undefined
  /** Timeout of each attempt. Default 60 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
  /** Retries after the first attempt, for retryable errors only. Default 4 (5 attempts). */
  readonly maxRetries?: number | undefined
  /**
   * The backoff between attempts. Default: exponential from 500 ms, doubling, jittered, capped at
   * 30 s. Whatever the schedule says, a retry never comes sooner than the server's Retry-After.
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
 * Fields common to every item result.
 *
 * @since 0.1.0
 * @category models
 */
export interface ResultBase {
  /** Position of the item in its batch or stream. */
  readonly index: number
  /** The request key (`RequestKey.make`), or undefined when the request did not even decode. */
  readonly key: string | undefined
  /** Provider calls made for this item (0 for a cache hit or a shared answer). */
  readonly attempts: number
}

/**
 * A chat item that succeeded.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatSuccess extends ResultBase {
  readonly _tag: "Success"
  readonly kind: "chat"
  readonly response: ChatResponse
  readonly fromCache: boolean
  /** Answered by an identical request in flight at the same time. */
  readonly deduplicated: boolean
  readonly tokens: TokenStats
}

/**
 * An embeddings item that succeeded.
 *
 * @since 0.1.0
 * @category models
 */
export interface EmbeddingSuccess extends ResultBase {
  readonly _tag: "Success"
  readonly kind: "embedding"
  readonly response: EmbeddingResponse
  readonly fromCache: boolean
  readonly deduplicated: boolean
  readonly tokens: TokenStats
}

/**
 * @since 0.1.0
 * @category models
 */
export type Success = ChatSuccess | EmbeddingSuccess

/**
 * An item that failed, with its typed error.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure extends ResultBase {
  readonly _tag: "Failure"
  readonly kind: Kind | undefined
  readonly error: ProviderError
}

/**
 * The result of one item.
 *
 * @since 0.1.0
 * @category models
 */
export type ItemResult = Success | Failure

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
export const make: (options?: Options) => Effect.Effect<RequestManager.Service, never, Provider | Cache | Scope.Scope> =
  internal.make

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
export const layer = (options?: Options): Layer.Layer<RequestManager, never, Provider | Cache> =>
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
export const metrics = internal.metrics

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
export const chatResponse = (result: ItemResult): ChatResponse | undefined =>
  result._tag === "Success" && result.kind === "chat" ? result.response : undefined

/**
 * The tagged response of a success.
 *
 * @since 0.1.0
 * @category getters
 */
export const apiResponse = (result: ItemResult): ApiResponse | undefined =>
  result._tag === "Failure"
    ? undefined
    : result.kind === "chat"
    ? { _tag: "Chat", response: result.response }
    : { _tag: "Embedding", response: result.response }

/**
 * Runs a `RequestBatch` (or plain requests): one `ResponseWrapper` per request in batch order,
 * plus the stats. The seed's `RequestManager.process_batch`.
 *
 * @since 0.1.0
 * @category accessors
 */
export { processBatch } from "./RequestBatch.js"
