import * as Cause from "effect/Cause"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as ApiRequest from "../ApiRequest.js"
import type { Cache } from "../Cache.js"
import type { CacheError } from "../LLMError.js"
import type { Counters } from "./tracker.js"

/**
 * The cache as the item pipeline uses it: a failing cache never fails an item. A failed read is a
 * miss, a failed write is skipped; either is counted in `cacheErrors` and logged.
 *
 * @internal
 */
export interface ItemCache {
  readonly get: (key: string, counters: Counters) => Effect.Effect<Option.Option<ApiRequest.ApiResponse>>
  readonly set: (key: string, value: ApiRequest.ApiResponse, counters: Counters) => Effect.Effect<void>
  /**
   * The cache's `unsafeGet`, where it has one: a hit or a miss on the spot, or undefined for "ask
   * `get`" (a throwing backend counts as that: `get` then reports its error the usual way).
   */
  readonly unsafeGet: ((key: string, now: number) => Option.Option<ApiRequest.ApiResponse> | undefined) | undefined
  /**
   * The cache's `getMany`, where it has one; a failed read answers "ask `get`" for every key (`get`
   * then reports the error the usual way).
   */
  readonly getMany:
    | ((keys: ReadonlyArray<string>, now: number) => Effect.Effect<ReadonlyArray<Option.Option<ApiRequest.ApiResponse> | undefined>>)
    | undefined
  /** After a miss that gets no `set` (failed or interrupted): lets a claiming cache (Redis) release the key. */
  readonly release: ((key: string, counters: Counters) => Effect.Effect<void>) | undefined
}

const survive = <A>(effect: Effect.Effect<A, CacheError>, fallback: A, what: string, counters: Counters): Effect.Effect<A> =>
  Effect.catchAllCause(effect, (cause) =>
    Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.zipRight(
      Effect.sync(() => counters.cacheError()),
      Effect.as(Effect.logWarning(`FastLLM: ${what}`, Cause.squash(cause)), fallback)
    ))

/** @internal */
export const make = (cache: Cache.Service, timeToLive: Duration.DurationInput | undefined): ItemCache => {
  const setOptions = timeToLive === undefined ? undefined : { timeToLive }
  const unsafeGet = cache.unsafeGet
  return {
    unsafeGet: unsafeGet === undefined ? undefined : (key, now) => {
      try {
        return unsafeGet(key, now)
      } catch {
        return undefined
      }
    },
    getMany: cache.getMany === undefined ? undefined : (() => {
      const getMany = cache.getMany
      return (keys: ReadonlyArray<string>, now: number) =>
        Effect.catchAllCause(getMany(keys, now), (cause) =>
          Cause.isInterruptedOnly(cause) ? Effect.interrupt : Effect.succeed(keys.map(() => undefined)))
    })(),
    get: (key, counters) => survive(cache.get(key), Option.none(), "cache read failed; treating it as a miss", counters),
    set: (key, value, counters) =>
      survive(cache.set(key, value, setOptions), undefined, "cache write failed; the answer is returned but not kept", counters),
    release: cache.release === undefined ? undefined : (() => {
      const release = cache.release
      return (key: string, counters: Counters) => survive(release(key), undefined, "cache release failed", counters)
    })()
  }
}
