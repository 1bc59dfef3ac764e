/**
 * A `Cache` on Redis, shared by every process that uses the same Redis and key prefix: one
 * machine's answers are every machine's cache hits.
 *
 * - Entries expire with `timeToLive` (per entry or default) as a Redis expiry on the key; the
 *   expiry is also stored in the value and compared with Effect's Clock on read.
 * - Gets issued in the same tick go out as one MGET (up to 512 keys): a warm rerun reads hundreds
 *   of keys per round trip.
 * - **Single-flight across processes** (`claims`, on by default): a miss claims its key with a
 *   lease (`SET NX PX`) in the same round trip, and this process renews it while the request is in
 *   flight; another process that misses the same key waits (polling with backoff, 10 ms to 500 ms)
 *   until the answer is `set`, then returns it. The claim ends with the `set`, with `release` (the
 *   RequestManager calls it when the request failed), or with the lease when its holder died; then
 *   a waiting process takes it over and sends the request itself.
 * - `clear` removes this prefix's entries with SCAN + UNLINK, never `KEYS`.
 * - Why ioredis directly and not `@effect/experimental`'s `Persistence/Redis`, measured with
 *   `npx tsx bench/redis-choices.ts` (bench/results/redis-choices.md): its batched read
 *   (`getMany`, one MGET) is the same command as ours (136,151 vs 110,720 reads/s, within this
 *   machine's noise), its per-key `get` (one GET each, on a client of its own without
 *   auto-pipelining), what a cache's `get` would call, ran at 17,596/s, and it has no claims
 *   (`SET NX PX`) for single-flight and clears with `KEYS`, which blocks Redis on a big store.
 * - Every failure is a `CacheError` naming the server (password hidden); the RequestManager treats
 *   a failing cache as a miss.
 *
 * @since 0.2.0
 */
import { Cache } from "@fastllm/core"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/redisCache.js"
import type { RedisConnection } from "./RedisConnection.js"

/**
 * Options of the Redis cache.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** Default expiry, from the write. Default: never. */
  readonly timeToLive?: Duration.DurationInput | undefined
  /** Claim keys on a miss so other processes wait instead of sending the same request. Default true. */
  readonly claims?: boolean | undefined
  /**
   * How long a claim outlives its holder: renewed every third of it while the request is in
   * flight, so a dead holder's claims pass to a waiting process after at most this. Default 15 s.
   */
  readonly lease?: Duration.DurationInput | undefined
}

/**
 * Builds the Redis cache on the {@link RedisConnection} in context.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (
  options?: Options
) => Effect.Effect<Cache.Cache.Service, never, RedisConnection | Scope.Scope> = internal.make

/**
 * The Redis cache as a `Cache` layer.
 *
 * @example
 * ```ts
 * import { RedisCache, RedisConnection } from "@fastllm/redis"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 *
 * const CacheLive = RedisCache.layer({ timeToLive: "30 days" }).pipe(
 *   Layer.provide(RedisConnection.layer({ url: Redacted.make("redis://127.0.0.1:6379") }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<Cache.Cache, never, RedisConnection> =>
  Layer.scoped(Cache.Cache, make(options))
