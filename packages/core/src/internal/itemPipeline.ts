import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ApiRequest from "../ApiRequest.js"
import type { ItemResult } from "../ItemResult.js"
import * as RequestKey from "../RequestKey.js"
import { type Answer, toResult } from "./answer.js"
import type { ItemCache } from "./itemCache.js"
import { recordItem } from "./metrics.js"
import * as SingleFlight from "./singleFlight.js"
import type { Tracing } from "./tracing.js"
import type { Counters } from "./tracker.js"

/** A miss that ends without an answer (failure, interruption) releases the cache's claim on the key. */
const releaseUnlessAnswered = (
  cache: ItemCache,
  key: string,
  counters: Counters,
  answer: Effect.Effect<Answer>
): Effect.Effect<Answer> => {
  const release = cache.release
  return release === undefined
    ? answer
    : Effect.onExit(answer, (exit) =>
      exit._tag === "Success" && exit.value._tag === "Success" ? Effect.void : release(key, counters))
}

/** @internal */
export interface Options {
  /** The provider's name, part of every request key. */
  readonly providerName: string
  /** Where answers are looked up first; undefined: no cache. */
  readonly cache: ItemCache | undefined
  /** The provider side of a key: retries, breaker, cache write (providerCall.ts). */
  readonly callProvider: (key: string, request: ApiRequest.ApiRequest, counters: Counters) => Effect.Effect<Answer>
  /** A span per item when a tracer is installed (tracing.ts). */
  readonly tracing: Tracing
}

/**
 * One item, start to end: decode → key → single-flight → cache lookup → provider → result,
 * counted in `counters` and the metrics. Never fails: every error becomes a `Failure` result.
 *
 * @internal
 */
export const make = (options: Options) => {
  const { cache, callProvider, providerName, tracing } = options
  const flights = SingleFlight.make<Answer>()

  /** The cache, then the provider. Run once per key in flight. */
  const compute = (key: string, request: ApiRequest.ApiRequest, counters: Counters): Effect.Effect<Answer> =>
    cache === undefined
      ? callProvider(key, request, counters)
      : Effect.flatMap(cache.get(key, counters), (hit) =>
        Option.isSome(hit) && hit.value._tag === request._tag
          ? Effect.succeed<Answer>({ _tag: "Success", response: hit.value, fromCache: true, attempts: 0 })
          : releaseUnlessAnswered(cache, key, counters, callProvider(key, request, counters)))

  const finish = (result: ItemResult, counters: Counters): ItemResult => {
    counters.finished(result)
    recordItem(result)
    return result
  }

  return (input: unknown, index: number, kind: ApiRequest.Kind | undefined, counters: Counters): Effect.Effect<ItemResult> =>
    Effect.suspend(() => {
      const decoded = ApiRequest.decode(input, kind)
      if (Either.isLeft(decoded)) {
        return Effect.succeed(finish({ _tag: "Failure", index, key: undefined, kind, error: decoded.left, attempts: 0 }, counters))
      }
      const request = decoded.right
      const key = RequestKey.make(providerName, request)
      const requestKind: ApiRequest.Kind = request._tag === "Chat" ? "chat" : "embedding"
      return tracing.item(
        request,
        Effect.map(
          flights.run(key, compute(key, request, counters)),
          ({ shared, value }) => finish(toResult(index, key, requestKind, value, shared), counters)
        )
      )
    })
}
