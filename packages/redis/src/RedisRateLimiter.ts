/**
 * `@effect/experimental`'s `RateLimiterStore` on Redis, so every process that shares the Redis
 * (and key prefix) shares one request budget and one token budget: `--rpm 600` given to four
 * workers is 600 requests a minute in all, not 2,400. The RequestManager takes whatever store is in
 * its context; provide this layer next to it.
 *
 * Why not `@effect/experimental/RateLimiter/Redis`: its token bucket runs on each caller's clock
 * (machines' clocks differ, and a TestClock would write nonsense into a shared store), refills in
 * whole tokens only (a 300,000 TPM budget refills 5 tokens per ms, but a 60 RPM budget one token per
 * second: `math.floor` stalls fractions), keeps its keys forever, and opens a connection of its own.
 * This store computes refills in Redis from Redis's own clock (`TIME`), keeps fractional levels,
 * gives every bucket a TTL of the time it takes to refill (an expired bucket is a full one), and
 * uses the shared connection. Both are atomic Lua scripts.
 *
 * Shared too, through these buckets: a 429 seen by one worker empties the bucket that ran out
 * (the RequestManager does that on every 429 when a limit is known), so every worker waits for it
 * to refill; limits learned from `x-ratelimit-*` headers are learned by each worker from its own
 * replies, which carry the same account-wide numbers.
 *
 * @since 0.2.0
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Redis } from "ioredis"
import { RedisConnection } from "./RedisConnection.js"

/* Token bucket on Redis's clock. Returns the level after taking ARGV[1] tokens, as a string. */
const tokenBucketLua = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local tokens = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'level', 'at')
local level = tonumber(state[1])
local at = tonumber(state[2])
if not level then
  level = limit
  at = now
end
level = math.min(limit, level + math.max(0, now - at) / refill)
local after = level - tokens
if after >= 0 or ARGV[4] == '1' then level = after end
redis.call('HSET', KEYS[1], 'level', string.format('%.6f', level), 'at', string.format('%.3f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((limit - level) * refill) + 1000)
return string.format('%.6f', after)
`

/* Fixed window, as @effect/experimental's (its counter already lives on Redis's clock via PTTL). */
const fixedWindowLua = `
local tokens = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local current = tonumber(redis.call('GET', KEYS[1]))
if not current then
  local ttl = math.max(1, math.ceil(refill * tokens))
  redis.call('SET', KEYS[1], tokens, 'PX', ttl)
  return { tokens, ttl }
end
local ttl = tonumber(redis.call('PTTL', KEYS[1]))
if ttl < 0 then ttl = 0 end
local after = current + tokens
if limit and after > limit then return { after, ttl } end
ttl = math.max(1, math.ceil(ttl + refill * tokens))
redis.call('SET', KEYS[1], after, 'PX', ttl)
return { after, ttl }
`

interface RateCommands {
  fastllmTokenBucket(key: string, tokens: number, refillMillis: number, limit: number, overflow: string): Promise<string>
  fastllmFixedWindow(key: string, tokens: number, refillMillis: number, limit?: number): Promise<[number, number]>
}

const commands = (client: Redis): RateCommands => {
  if (!("fastllmTokenBucket" in client)) {
    client.defineCommand("fastllmTokenBucket", { numberOfKeys: 1, lua: tokenBucketLua })
    client.defineCommand("fastllmFixedWindow", { numberOfKeys: 1, lua: fixedWindowLua })
  }
  return client as unknown as RateCommands
}

/**
 * Builds the store on the {@link RedisConnection} in context; keys go under `<prefix>rate:`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeStore: Effect.Effect<
  RateLimiter.RateLimiterStore["Type"],
  never,
  RedisConnection
> = Effect.map(RedisConnection, (connection) => {
  const redis = commands(connection.client)
  const prefix = `${connection.prefix}rate:`
  const storeError = (message: string) => (cause: unknown) => new RateLimiter.RateLimitStoreError({ message, cause })
  return RateLimiter.RateLimiterStore.of({
    tokenBucket: (options) =>
      Effect.tryPromise({
        try: () =>
          redis.fastllmTokenBucket(
            prefix + options.key,
            options.tokens,
            Duration.toMillis(options.refillRate),
            options.limit,
            options.allowOverflow ? "1" : "0"
          ),
        catch: storeError(`token bucket on Redis at ${connection.displayUrl} failed`)
      }).pipe(Effect.map(Number)),
    fixedWindow: (options) =>
      Effect.tryPromise({
        try: () =>
          options.limit === undefined
            ? redis.fastllmFixedWindow(prefix + options.key, options.tokens, Duration.toMillis(options.refillRate))
            : redis.fastllmFixedWindow(
              prefix + options.key,
              options.tokens,
              Duration.toMillis(options.refillRate),
              options.limit
            ),
        catch: storeError(`fixed window on Redis at ${connection.displayUrl} failed`)
      }).pipe(Effect.map(([count, ttl]) => [count, ttl] as const))
  })
})

/**
 * The store as a layer: provide it to a RequestManager layer to share its budgets.
 *
 * @example
 * ```ts
 * import { Provider, RequestManager } from "@fastllm/core"
 * import { RedisCache, RedisConnection, RedisRateLimiter } from "@fastllm/redis"
 * import * as Layer from "effect/Layer"
 *
 * declare const provider: Layer.Layer<Provider.Provider>
 * const Live = RequestManager.layer({ requestsPerMinute: 600 }).pipe(
 *   Layer.provide(provider),
 *   Layer.provide(Layer.merge(RedisCache.layer(), RedisRateLimiter.layerStore)),
 *   Layer.provide(RedisConnection.layer({ url: "redis://127.0.0.1:6379" }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerStore: Layer.Layer<RateLimiter.RateLimiterStore, never, RedisConnection> = Layer
  .effect(RateLimiter.RateLimiterStore, makeStore)
