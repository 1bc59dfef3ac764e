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
 * gives every bucket a TTL of the time it takes to refill, and uses the shared connection. Both are
 * atomic Lua scripts.
 *
 * The buckets pace like the RequestManager's (a bucket of `burst`'s worth, 1 second by default,
 * refilled at the limit / 60 per second), with one difference: a bucket that does not exist yet (or
 * expired, idle long enough to be full) starts with the first request's cost, not full. A full
 * start puts the burst plus a second of refill, 2x the paced rate, into the first second at the
 * server; the issue's bound is 1.05x in every 1-second window, the first included. Nothing is lost
 * by it: reservations run at the refill rate from the first request on. (Measured with
 * `npx vitest run packages/redis/test/Workers.test.ts -t "is global"`: first busy second 39 of a
 * 20/s limit with a full start.)
 *
 * Shared too: a 429 that says the server's bucket is empty pauses every process. Through these
 * buckets when a limit is known (the RequestManager empties the bucket that ran out, so every
 * worker waits for it to refill), and through {@link layerSharedGate} in any case (limits known or
 * not): the pause the 429 asked for (Retry-After) holds every process's calls. Limits learned from
 * `x-ratelimit-*` headers are learned by each worker from its own replies, which carry the same
 * account-wide numbers.
 *
 * @since 0.2.0
 */
import * as RateLimiter from "@effect/experimental/RateLimiter"
import { type LLMError, Provider } from "@fastllm/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
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
  level = math.min(limit, tokens)
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

/*
 * The shared 429 gate: shut for a pause from Redis's clock (never shortened), announced to every
 * process on a channel so they pause at once; a process that starts during a pause reads what is
 * left of it.
 */
const closeGateLua = `
local ms = tonumber(ARGV[1])
local left = tonumber(redis.call('PTTL', KEYS[1]))
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  redis.call('PUBLISH', ARGV[2], ARGV[1])
  return ms
end
return left
`

/*
 * Send-time pace on Redis's clock (GCRA): a call may be sent when the theoretical send time is at
 * most ARGV[2] ms ahead of now, and moves it ARGV[1] ms on; otherwise the ms to wait before asking
 * again. In any window of W ms at most floor((W + ARGV[2]) / ARGV[1]) + 1 calls go, however late
 * their processes woke.
 */
const paceLua = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local wait = tat - tolerance - now
if wait > 0 then return string.format('%.3f', wait) end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
return '0'
`

interface GateCommands {
  fastllmCloseGate(key: string, millis: number, channel: string): Promise<number>
  fastllmPace(key: string, intervalMillis: number, toleranceMillis: number): Promise<string>
}

const gateCommands = (client: Redis): GateCommands => {
  if (!("fastllmCloseGate" in client)) {
    client.defineCommand("fastllmCloseGate", { numberOfKeys: 1, lua: closeGateLua })
    client.defineCommand("fastllmPace", { numberOfKeys: 1, lua: paceLua })
  }
  return client as unknown as GateCommands
}

/** How long the gate stays shut after a 429 that says nothing about when to come back (as the RequestManager's). */
const defaultPauseMillis = 1_000

/**
 * Whether a 429 says the server's bucket is empty (everyone must wait) rather than an isolated
 * refusal: the server said what was left, and it was less than one request (or than the
 * request's output tokens, for a token limit). The RequestManager decides the same way for its
 * own gate.
 */
const bucketEmpty = (error: LLMError.RateLimitError, outputTokens: number): boolean =>
  error.kind !== "quota" && error.remaining !== undefined &&
  error.remaining < (error.kind === "tokens" ? Math.max(1, outputTokens) : 1)

const outputTokensOf = (request: { readonly max_tokens?: unknown; readonly max_completion_tokens?: unknown }): number => {
  const value = request.max_completion_tokens ?? request.max_tokens
  return typeof value === "number" && Number.isFinite(value) ? value : 1
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

/**
 * The 429 gate every process of a Redis (and key prefix) shares: `wait` holds a call while it is
 * shut; `shut(millis)` shuts it here at once and, through Redis (on Redis's clock, never
 * shortening a longer pause), in every other process, which hears it on a pub/sub channel. A
 * process that starts during a pause reads what is left of it. Redis failing only makes the gate
 * local: a call is never failed for it.
 *
 * @since 0.2.0
 * @category models
 */
export interface SharedGate {
  readonly wait: Effect.Effect<void>
  readonly shut: (millis: number) => Effect.Effect<void>
}

/**
 * Options of {@link makeGate} and {@link layerSharedGate}.
 *
 * @since 0.2.0
 * @category models
 */
export interface GateOptions {
  /**
   * The global request budget: besides the RequestManager's paced bucket (which reserves each
   * request's slot, then sleeps until it is due), each call checks a strict pace on Redis's clock
   * when it is about to be sent, so requests whose process woke late (a busy machine, a pause of
   * its event loop) wait again instead of arriving together. Any 1-second window then holds at
   * most 1.05x the per-second limit, the first included. Default: none.
   */
  readonly requestsPerMinute?: number | undefined
}

/**
 * Builds the {@link SharedGate} on the {@link RedisConnection} in context (one subscriber
 * connection of its own, closed with the scope); keys and channel go under `<prefix>gate`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeGate = (options: GateOptions = {}): Effect.Effect<SharedGate, never, RedisConnection | Scope.Scope> =>
  Effect.gen(function*() {
    const connection = yield* RedisConnection
    const clock = yield* Effect.clock
    const key = `${connection.prefix}gate`
    const channel = `${connection.prefix}gate`
    const redis = gateCommands(connection.client)
    let pausedUntil = 0
    const pauseFor = (millis: number) => {
      if (Number.isFinite(millis) && millis > 0) pausedUntil = Math.max(pausedUntil, clock.unsafeCurrentTimeMillis() + millis)
    }
    const subscriber = yield* Effect.acquireRelease(
      Effect.sync(() => connection.client.duplicate()),
      (client) => Effect.sync(() => client.disconnect())
    )
    subscriber.on("error", () => {})
    subscriber.on("message", (_channel: string, message: string) => pauseFor(Number(message)))
    yield* Effect.tryPromise(() => subscriber.subscribe(channel)).pipe(
      Effect.catchAll((error) => Effect.logWarning(`FastLLM: the shared 429 gate on ${connection.displayUrl} is local only`, error))
    )
    const left = yield* Effect.option(connection.use("read the 429 gate", (client) => client.pttl(key)))
    if (Option.isSome(left)) pauseFor(left.value)
      const paceKey = `${connection.prefix}rate:pace`
    const perMinute = options.requestsPerMinute
    const interval = perMinute === undefined || !(perMinute > 0) ? undefined : 60_000 / perMinute
    // The largest tolerance that keeps any 1-second window at 1.05x the limit:
    // floor((1000 + tolerance) / interval) + 1 <= 1.05 * 1000 / interval.
    const tolerance = interval === undefined ? 0 : Math.max(0, Math.floor((1.05 * 1000) / interval) * interval - 1000 - 1)
    // Callers told to wait ask again when the wait is over, spread over the next two turns so that
    // calls that arrived together (a process that woke late) do not all ask at once; the first to
    // ask takes the turn.
    const pace: Effect.Effect<void> = interval === undefined ? Effect.void : Effect.flatMap(
      connection.use("pace", () => redis.fastllmPace(paceKey, interval, tolerance)).pipe(
        Effect.map(Number),
        Effect.catchAll((error) => Effect.as(Effect.logWarning("FastLLM: the send-time pace on Redis failed", error), 0))
      ),
      (millis) =>
        millis > 0 ? Effect.zipRight(Effect.sleep(Duration.millis(millis + Math.random() * 2 * interval)), pace) : Effect.void
    )
    const gateOpen: Effect.Effect<void> = Effect.suspend(() => {
      const remaining = pausedUntil - clock.unsafeCurrentTimeMillis()
      return remaining > 0 ? Effect.zipRight(Effect.sleep(Duration.millis(remaining)), gateOpen) : Effect.void
    })
    // The pace is taken with the gate open, and the gate checked again after it (a 429 meanwhile).
    const wait = Effect.zipRight(gateOpen, Effect.zipRight(pace, gateOpen))
    return {
      wait,
      shut: (millis) =>
        Effect.suspend(() => {
          pauseFor(millis)
          return connection.use("shut the 429 gate", () => redis.fastllmCloseGate(key, Math.ceil(millis), channel)).pipe(
            Effect.catchAll((error) => Effect.logWarning("FastLLM: could not share a 429 pause through Redis", error)),
            Effect.asVoid
          )
        })
    }
  })

/**
 * The provider in context, behind the {@link SharedGate}: each call waits while the gate is shut
 * (and, with `requestsPerMinute`, for its turn in the strict send-time pace),
 * and a 429 that says the server's bucket is empty shuts it for its Retry-After (1 second when it
 * gives none) in every process of the Redis, limits known or not. (With a known limit the
 * RequestManager also empties the shared bucket on such a 429: see the module's notes.) Isolated
 * 429s (the server said there was room left) pause only their own request, as in the
 * RequestManager.
 *
 * @example
 * ```ts
 * import { Provider, RequestManager } from "@fastllm/core"
 * import { RedisCache, RedisConnection, RedisRateLimiter } from "@fastllm/redis"
 * import * as Layer from "effect/Layer"
 *
 * declare const provider: Layer.Layer<Provider.Provider>
 * const Live = RequestManager.layer({ requestsPerMinute: 600 }).pipe(
 *   Layer.provide(RedisRateLimiter.layerSharedGate({ requestsPerMinute: 600 }).pipe(Layer.provide(provider))),
 *   Layer.provide(Layer.merge(RedisCache.layer(), RedisRateLimiter.layerStore)),
 *   Layer.provide(RedisConnection.layer({ url: "redis://127.0.0.1:6379" }))
 * )
 * ```
 *
 * @since 0.2.0
 * @category layers
 */
export const layerSharedGate = (
  options: GateOptions = {}
): Layer.Layer<Provider.Provider, never, Provider.Provider | RedisConnection> =>
  Layer.scoped(
    Provider.Provider,
    Effect.gen(function*() {
      const provider = yield* Provider.Provider
      const gate = yield* makeGate(options)
      const shutOn = (outputTokens: number) => (error: LLMError.ProviderError) =>
        error._tag === "RateLimitError" && bucketEmpty(error, outputTokens)
          ? gate.shut(error.retryAfter === undefined ? defaultPauseMillis : Duration.toMillis(error.retryAfter))
          : Effect.void
      return Provider.Provider.of({
        ...provider,
        chat: (request, options) =>
          Effect.zipRight(gate.wait, provider.chat(request, options)).pipe(Effect.tapError(shutOn(outputTokensOf(request)))),
        embed: (request, options) => Effect.zipRight(gate.wait, provider.embed(request, options)).pipe(Effect.tapError(shutOn(1)))
      })
    })
  )
