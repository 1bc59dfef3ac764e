/**
 * What a job will cost and how long it will take, before anything is sent: prompt tokens counted
 * with OpenAI's tokenizer, outputs assumed from `max_tokens` (or a stated guess), answers already
 * in the cache subtracted, priced online and through the Batch API, timed under the rate limits.
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as ApiRequest from "./ApiRequest.js"
import { Cache } from "./Cache.js"
import * as Cost from "./Cost.js"
import * as tokenizer from "./internal/tokenizer.js"
import * as RequestKey from "./RequestKey.js"

/**
 * Options of an estimate.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Completion tokens assumed per choice when a request sets no `max_tokens`. Default 256. */
  readonly outputTokens?: number | undefined
  /** Your prices, before the table's (see `Cost`). */
  readonly prices?: Cost.Prices | undefined
  /** Request and token budgets, to say how long the job would take. */
  readonly requestsPerMinute?: number | undefined
  readonly tokensPerMinute?: number | undefined
  /**
   * The provider name the run will use (`manager.providerName`): requests already answered in the
   * `Cache` service under it are subtracted. Without it, the cache is not consulted.
   */
  readonly providerName?: string | undefined
}

/**
 * Token and cost totals of a group of requests.
 *
 * @since 0.2.0
 * @category models
 */
export interface Totals {
  readonly requests: number
  readonly promptTokens: number
  /** Assumed: `max_tokens` (or `max_completion_tokens`) per choice, else `outputTokens`. */
  readonly outputTokens: number
  /** Online price; `unpricedItems` counts requests whose model has no price. */
  readonly online: Cost.CostStats
  /** Batch API price. */
  readonly batch: Cost.CostStats
}

/**
 * An estimate of a job.
 *
 * @since 0.2.0
 * @category models
 */
export interface Estimate {
  /** Items read. */
  readonly items: number
  /** Items that are not valid requests (they would fail without being sent). */
  readonly invalid: number
  /** Items the cache already answers (they cost nothing). */
  readonly cached: number
  /** What would be sent: all items less the invalid and the cached ones. */
  readonly toSend: Totals
  /** The same per model. */
  readonly byModel: Readonly<Record<string, Totals>>
  /** How prompt tokens were counted: with OpenAI's tokenizer, or characters / 4 for other models. */
  readonly tokenizedRequests: number
  /** Minutes the job needs at least under the given budgets (undefined without budgets). */
  readonly minutes: number | undefined
}

const emptyTotals: Totals = {
  requests: 0,
  promptTokens: 0,
  outputTokens: 0,
  online: Cost.emptyStats,
  batch: Cost.emptyStats
}

const addCost = (stats: Cost.CostStats, usd: number | undefined): Cost.CostStats =>
  usd === undefined
    ? { usd: stats.usd, unpricedItems: stats.unpricedItems + 1 }
    : { usd: stats.usd + usd, unpricedItems: stats.unpricedItems }

const addRequest = (totals: Totals, promptTokens: number, outputTokens: number, model: string, options: Options): Totals => {
  const tokens = {
    promptTokens,
    completionTokens: outputTokens,
    totalTokens: promptTokens + outputTokens,
    cachedTokens: 0,
    reasoningTokens: 0
  }
  return {
    requests: totals.requests + 1,
    promptTokens: totals.promptTokens + promptTokens,
    outputTokens: totals.outputTokens + outputTokens,
    online: addCost(totals.online, Cost.ofTokens(model, tokens, { prices: options.prices })),
    batch: addCost(totals.batch, Cost.ofTokens(model, tokens, { prices: options.prices, mode: "batch" }))
  }
}

/**
 * The minutes a job needs under request and token budgets: the slower of the two.
 *
 * @since 0.2.0
 * @category getters
 */
export const minutesUnderLimits = (
  totals: Pick<Totals, "requests" | "promptTokens" | "outputTokens">,
  limits: Pick<Options, "requestsPerMinute" | "tokensPerMinute">
): number | undefined => {
  const byRequests = limits.requestsPerMinute === undefined ? undefined : totals.requests / limits.requestsPerMinute
  const byTokens = limits.tokensPerMinute === undefined
    ? undefined
    : (totals.promptTokens + totals.outputTokens) / limits.tokensPerMinute
  return byRequests === undefined ? byTokens : byTokens === undefined ? byRequests : Math.max(byRequests, byTokens)
}

/**
 * Estimates a stream of inputs (plain requests, tagged `ApiRequest`s, or anything to decode) in
 * constant memory. Sends nothing. Reads the `Cache` service when `providerName` is given (a failing
 * cache counts as a miss).
 *
 * @since 0.2.0
 * @category constructors
 * @example
 * ```ts
 * import { Cache, Cost, Estimate } from "@fastllm/core"
 * import * as Effect from "effect/Effect"
 * import * as Stream from "effect/Stream"
 *
 * const program = Estimate.stream(Stream.fromIterable([
 *   { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }], max_tokens: 100 }
 * ]), { requestsPerMinute: 500 }).pipe(
 *   Effect.tap((e) => Effect.log(`${Cost.format(e.toSend.online)} online, ${Cost.format(e.toSend.batch)} batch`)),
 *   Effect.provide(Cache.none)
 * )
 * ```
 */
export const stream = <E, R>(
  inputs: Stream.Stream<unknown, E, R>,
  options: Options = {}
): Effect.Effect<Estimate, E, R | Cache> =>
  Effect.gen(function*() {
    const cache = yield* Cache
    const counter = yield* tokenizer.load
    const average = options.outputTokens ?? 256
    let items = 0
    let invalid = 0
    let cached = 0
    let tokenized = 0
    let toSend = emptyTotals
    const byModel: Record<string, Totals> = {}
    yield* Stream.runForEach(inputs, (input) =>
      Effect.gen(function*() {
        items++
        const decoded = ApiRequest.decode(input)
        if (decoded._tag === "Left") {
          invalid++
          return
        }
        const request = decoded.right
        if (options.providerName !== undefined) {
          const hit = yield* cache.get(RequestKey.make(options.providerName, request)).pipe(
            Effect.orElseSucceed(() => Option.none())
          )
          if (Option.isSome(hit)) {
            cached++
            return
          }
        }
        const counted = counter.requestTokens(request, average)
        if (counted.tokenized) tokenized++
        const model = ApiRequest.model(request)
        toSend = addRequest(toSend, counted.prompt, counted.output, model, options)
        byModel[model] = addRequest(byModel[model] ?? emptyTotals, counted.prompt, counted.output, model, options)
      }))
    return {
      items,
      invalid,
      cached,
      toSend,
      byModel,
      tokenizedRequests: tokenized,
      minutes: minutesUnderLimits(toSend, options)
    }
  })

/**
 * Estimates an array (or any iterable) of inputs. See {@link stream}.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (inputs: Iterable<unknown>, options?: Options): Effect.Effect<Estimate, never, Cache> =>
  stream(Stream.fromIterable(inputs), options)

/**
 * Prompt tokens of one request as OpenAI counts them: its tokenizer for OpenAI models
 * (`o200k_base` for GPT-4o, GPT-4.1, GPT-5 and the o-series; `cl100k_base` for GPT-4, GPT-3.5 and
 * the text-embedding models), characters / 4 for other models.
 *
 * @since 0.2.0
 * @category getters
 */
export const promptTokens = (request: ApiRequest.ApiRequest): Effect.Effect<number> =>
  Effect.map(tokenizer.load, (counter) => counter.requestTokens(request, 0).prompt)
