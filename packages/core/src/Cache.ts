/**
 * The `Cache` service: where answered requests are kept, by request key, so that a rerun or a
 * crashed run costs nothing. Backends: {@link memory}, {@link none}, and `DiskCache.layer` from
 * `@fastllm/cache-disk`. Every backend passes the same contract suite (`@fastllm/core/testing`).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { ApiResponse } from "./ApiRequest.js"
import type { CacheError } from "./LLMError.js"
import { keepingNothing } from "./internal/keepsNothing.js"

/**
 * The Cache service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Cache extends Context.Tag("@fastllm/core/Cache")<Cache, Cache.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Cache {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The entry under `key`, or none when absent or expired. */
    readonly get: (key: string) => Effect.Effect<Option.Option<ApiResponse>, CacheError>
    /** Stores an entry; `timeToLive` overrides the backend's default expiry for this entry. */
    readonly set: (
      key: string,
      value: ApiResponse,
      options?: { readonly timeToLive?: Duration.DurationInput | undefined }
    ) => Effect.Effect<void, CacheError>
    /** Removes an entry (no error when absent). */
    readonly delete: (key: string) => Effect.Effect<void, CacheError>
    /** Removes every entry. */
    readonly clear: Effect.Effect<void, CacheError>
    /**
     * Optional: the RequestManager calls it when a `get` that missed will not be followed by a
     * `set` (the request failed or was interrupted). A backend that claims a key on a miss, so
     * that other processes wait for the answer instead of sending the same request (the Redis
     * cache), releases the claim here.
     *
     * @since 0.2.0
     */
    readonly release?: ((key: string) => Effect.Effect<void, CacheError>) | undefined
    /**
     * Optional: `get` answered on the spot, for a backend whose reads wait for nothing (memory,
     * LMDB), at `now` (epoch milliseconds of the caller's `Clock`). `undefined` means "not
     * answered here" (a read error, an expired entry to purge, a closed store): the caller asks
     * `get`, which handles it. The RequestManager answers cache hits through it without a fiber or
     * an effect per item: a warm rerun goes several times faster
     * (`npx tsx bench/lib/libSteps.ts --base 4fb4378 --only hit`).
     *
     * @since 0.3.0
     */
    readonly unsafeGet?: ((key: string, now: number) => Option.Option<ApiResponse> | undefined) | undefined
    /**
     * Optional: many `get`s in one round trip, for a backend across a network (Redis: one MGET),
     * at `now` (epoch milliseconds of the caller's `Clock`). Per key, in order: a hit, none (absent:
     * the caller may call the provider without asking `get`), or `undefined` ("ask `get`": a
     * backend whose `get` does more on a miss, such as claiming the key, answers hits only). The
     * RequestManager's `run` looks its items up through it in chunks instead of one `get` per item
     * (`npx tsx bench/redis.ts`).
     *
     * @since 0.3.0
     */
    readonly getMany?:
      | ((
        keys: ReadonlyArray<string>,
        now: number
      ) => Effect.Effect<ReadonlyArray<Option.Option<ApiResponse> | undefined>, CacheError>)
      | undefined
  }
}

/**
 * Options of the in-memory cache.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** Maximum number of entries; the least recently used go first. Default 100,000. */
  readonly capacity?: number | undefined
  /** Default expiry from write. Default: never. */
  readonly timeToLive?: Duration.DurationInput | undefined
}

interface MemoryEntry {
  readonly value: ApiResponse
  readonly expiresAt: number
}

const expiryFrom = (now: number, timeToLive: Duration.DurationInput | undefined): number => {
  if (timeToLive === undefined) return Number.POSITIVE_INFINITY
  const duration = Duration.decode(timeToLive)
  return Duration.isFinite(duration) ? now + Duration.toMillis(duration) : Number.POSITIVE_INFINITY
}

/**
 * Builds a bounded in-memory LRU cache with TTL. Every operation is O(1): a `Map` keeps insertion
 * order, and a hit re-inserts its key to mark it most recently used. Time comes from Effect's
 * `Clock`, so `TestClock` drives expiry in tests.
 *
 * Why not `effect/Cache`: it is a memoizing lookup (one function computes every value), while this
 * service stores values computed elsewhere, with a TTL per entry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory = (options: MemoryOptions = {}): Effect.Effect<Cache.Service> =>
  Effect.sync(() => {
    const capacity = Math.max(1, options.capacity ?? 100_000)
    const entries = new Map<string, MemoryEntry>()
    const lookup = (key: string, now: number): Option.Option<ApiResponse> => {
      const entry = entries.get(key)
      if (entry === undefined) return Option.none()
      entries.delete(key)
      if (entry.expiresAt <= now) return Option.none()
      entries.set(key, entry)
      return Option.some(entry.value)
    }
    return Cache.of({
      get: (key) => Effect.map(Clock.currentTimeMillis, (now) => lookup(key, now)),
      unsafeGet: lookup,
      set: (key, value, setOptions) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          entries.delete(key)
          entries.set(key, { value, expiresAt: expiryFrom(now, setOptions?.timeToLive ?? options.timeToLive) })
          if (entries.size > capacity) {
            const oldest = entries.keys().next()
            if (!oldest.done) entries.delete(oldest.value)
          }
        }),
      delete: (key) => Effect.sync(() => void entries.delete(key)),
      clear: Effect.sync(() => entries.clear())
    })
  })

/**
 * The in-memory cache as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const memory = (options: MemoryOptions = {}): Layer.Layer<Cache> => Layer.effect(Cache, makeMemory(options))

/**
 * A cache that keeps nothing: every `get` misses.
 *
 * @since 0.1.0
 * @category layers
 */
export const none: Layer.Layer<Cache> = Layer.succeed(
  Cache,
  keepingNothing(Cache.of({
    get: () => Effect.succeed(Option.none()),
    set: () => Effect.void,
    delete: () => Effect.void,
    clear: Effect.void
  }))
)
