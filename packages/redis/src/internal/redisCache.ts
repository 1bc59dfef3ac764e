import { Cache, LLMError } from "@fastllm/core"
import type { ApiRequest } from "@fastllm/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Redis } from "ioredis"
import { randomBytes } from "node:crypto"
import type { Options } from "../RedisCache.js"
import type { RedisError } from "../RedisConnection.js"
import { RedisConnection } from "../RedisConnection.js"
import * as Entry from "./entry.js"
import { makeBatchedGet } from "./mget.js"
import { globEscape, unlinkMatching } from "./scan.js"

/*
 * Get-or-claim, in one round trip: the value when there is one; otherwise a claim on the key
 * (SET NX PX: the caller is to compute the answer and `set` it); otherwise 0 (another process
 * holds the claim: wait). A claim already held with the caller's token is renewed and returned as
 * claimed again (a second `get` of a key this process is computing).
 */
const getOrClaimLua = `
local v = redis.call('GET', KEYS[1])
if v then return v end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
`

/* Stores a value (with its Redis expiry when it has one) and drops any claim on its key. */
const setLua = `
local px = tonumber(ARGV[2])
if px > 0 then redis.call('SET', KEYS[1], ARGV[1], 'PX', px) else redis.call('SET', KEYS[1], ARGV[1]) end
redis.call('DEL', KEYS[2])
return 1
`

/* Renews a claim held with this token; 0 when it is no longer ours (expired, or answered). */
const renewLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`

/* Releases a claim held with this token. */
const releaseLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

interface CacheCommands {
  fastllmGetOrClaim(value: string, claim: string, token: string, leaseMillis: number): Promise<string | number>
  fastllmSet(value: string, claim: string, payload: string, expiryMillis: number): Promise<number>
  fastllmRenew(claim: string, token: string, leaseMillis: number): Promise<number>
  fastllmRelease(claim: string, token: string): Promise<number>
}

const commands = (client: Redis): CacheCommands => {
  // `defineCommand` sends EVALSHA and falls back to EVAL when the script is unknown (a restarted
  // server), and is idempotent per client.
  if (!("fastllmGetOrClaim" in client)) {
    client.defineCommand("fastllmGetOrClaim", { numberOfKeys: 2, lua: getOrClaimLua })
    client.defineCommand("fastllmSet", { numberOfKeys: 2, lua: setLua })
    client.defineCommand("fastllmRenew", { numberOfKeys: 1, lua: renewLua })
    client.defineCommand("fastllmRelease", { numberOfKeys: 1, lua: releaseLua })
  }
  return client as unknown as CacheCommands
}

const expiryFrom = (now: number, timeToLive: Duration.DurationInput | undefined): number => {
  if (timeToLive === undefined) return Number.POSITIVE_INFINITY
  const duration = Duration.decode(timeToLive)
  return Duration.isFinite(duration) ? now + Duration.toMillis(duration) : Number.POSITIVE_INFINITY
}

/**
 * Leases live in Redis's real time, so renewals and waits for another process's answer sleep on
 * the live clock whatever Clock the caller runs with (a TestClock moving days ahead must not
 * spin the renewal loop, nor stall a wait).
 */
const liveClock = Clock.make()
const realSleep = (millis: number): Effect.Effect<void> => liveClock.sleep(Duration.millis(millis))

/** How long a `get` waits before asking again for another process's answer: 10 ms, doubling, at most 500 ms. */
const waitMillis = (round: number): number => Math.min(500, 10 * 2 ** round) * (0.75 + Math.random() / 2)

/** @internal */
export const make = (options: Options = {}): Effect.Effect<Cache.Cache.Service, never, RedisConnection | Scope.Scope> =>
  Effect.gen(function*() {
    const connection = yield* RedisConnection
    const redis = commands(connection.client)
    const valuePrefix = `${connection.prefix}cache:`
    const claimPrefix = `${connection.prefix}claim:`
    const claims = options.claims ?? true
    const leaseMillis = Math.max(100, Duration.toMillis(Duration.decode(options.lease ?? "15 seconds")))
    /** Claims this process holds, by key: renewed until answered, released, or lost. */
    const held = new Map<string, string>()
    const processToken = randomBytes(8).toString("hex")
    let claimCount = 0
    const batchedGet = makeBatchedGet(connection)

    const failure = (operation: string) => (error: RedisError) =>
      new LLMError.CacheError({ operation, reason: error.message, path: connection.displayUrl })

    const read = (text: string): Effect.Effect<Option.Option<ApiRequest.ApiResponse>> =>
      Effect.map(Clock.currentTimeMillis, (now) => {
        const entry = Entry.read(text, now)
        return entry._tag === "Hit" ? Option.some(entry.value) : Option.none()
      })

    /** One get-or-claim: a value, "claimed" (go compute it) or "wait" (another process is). */
    const attempt = (key: string): Effect.Effect<Option.Option<ApiRequest.ApiResponse> | "wait", RedisError> =>
      Effect.suspend(() => {
        const token = held.get(key) ?? `${processToken}:${claimCount++}`
        return Effect.flatMap(
          connection.use("get", () => redis.fastllmGetOrClaim(valuePrefix + key, claimPrefix + key, token, leaseMillis)),
          (reply): Effect.Effect<Option.Option<ApiRequest.ApiResponse> | "wait"> => {
            if (typeof reply === "string") return read(reply)
            if (reply === 0) return Effect.succeed("wait" as const)
            held.set(key, token)
            return Effect.succeed(Option.none())
          }
        )
      })

    /** Hits (the warm path) are one batched MGET; only a miss pays the get-or-claim round trip. */
    const getClaiming = (key: string): Effect.Effect<Option.Option<ApiRequest.ApiResponse>, LLMError.CacheError> =>
      Effect.flatMap(batchedGet(valuePrefix + key), (text) => text === null ? waitForAnswer(key, 0) : read(text)).pipe(
        Effect.mapError(failure("get"))
      )

    const waitForAnswer = (
      key: string,
      round: number
    ): Effect.Effect<Option.Option<ApiRequest.ApiResponse>, RedisError> =>
      Effect.flatMap(attempt(key), (reply) =>
        reply === "wait"
          ? Effect.zipRight(realSleep(waitMillis(round)), waitForAnswer(key, round + 1))
          : Effect.succeed(reply))

    const getPlain = (key: string): Effect.Effect<Option.Option<ApiRequest.ApiResponse>, LLMError.CacheError> =>
      batchedGet(valuePrefix + key).pipe(
        Effect.flatMap((text) => text === null ? Effect.succeed(Option.none()) : read(text)),
        Effect.mapError(failure("get"))
      )

    const renewAll = Effect.suspend(() => {
      const entries = Array.from(held)
      return Effect.forEach(
        entries,
        ([key, token]) =>
          connection.use("renew claim", () => redis.fastllmRenew(claimPrefix + key, token, leaseMillis)).pipe(
            Effect.map((renewed) => {
              if (renewed === 0 && held.get(key) === token) held.delete(key)
            }),
            Effect.ignore
          ),
        { concurrency: "unbounded", discard: true }
      )
    })
    if (claims) {
      yield* renewAll.pipe(
        Effect.zipRight(realSleep(leaseMillis / 3)),
        Effect.forever,
        Effect.forkScoped
      )
    }

    /**
     * Hits of many keys in one MGET per 512; anything else is left to `get` (which claims a miss).
     * What a warm rerun through the manager reads with: one command and one effect per chunk of
     * items instead of one `get` each (`npx tsx bench/redis.ts`).
     */
    const getMany = (
      keys: ReadonlyArray<string>,
      now: number
    ): Effect.Effect<ReadonlyArray<Option.Option<ApiRequest.ApiResponse> | undefined>, LLMError.CacheError> =>
      Effect.forEach(
        Array.from({ length: Math.ceil(keys.length / 512) }, (_, part) => keys.slice(part * 512, part * 512 + 512)),
        (part) => connection.use("get", (client) => client.mget(part.map((key) => valuePrefix + key))),
        { concurrency: "unbounded" }
      ).pipe(
        Effect.map((parts) =>
          parts.flat().map((text) => {
            if (text === null) return claims ? undefined : Option.none()
            const entry = Entry.read(text, now)
            return entry._tag === "Hit" ? Option.some(entry.value) : undefined
          })
        ),
        Effect.mapError(failure("get"))
      )

    return Cache.Cache.of({
      get: claims ? getClaiming : getPlain,
      getMany,
      set: (key, value, setOptions) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const expiresAt = expiryFrom(now, setOptions?.timeToLive ?? options.timeToLive)
          const payload = Entry.encode(value, expiresAt)
          if (Either.isLeft(payload)) {
            return yield* new LLMError.CacheError({ operation: "set", reason: payload.left, path: connection.displayUrl })
          }
          // Redis wants a whole number of milliseconds, at least 1.
          const expiryMillis = Number.isFinite(expiresAt) ? Math.max(1, Math.ceil(expiresAt - now)) : 0
          held.delete(key)
          yield* connection.use(
            "set",
            () => redis.fastllmSet(valuePrefix + key, claimPrefix + key, payload.right, expiryMillis)
          ).pipe(Effect.mapError(failure("set")))
        }),
      delete: (key) =>
        connection.use("delete", (client) => client.unlink(valuePrefix + key)).pipe(
          Effect.asVoid,
          Effect.mapError(failure("delete"))
        ),
      clear: Effect.zipRight(
        unlinkMatching(connection, `${globEscape(valuePrefix)}*`),
        unlinkMatching(connection, `${globEscape(claimPrefix)}*`)
      ).pipe(Effect.mapError(failure("clear"))),
      release: (key) =>
        Effect.suspend(() => {
          const token = held.get(key)
          if (token === undefined) return Effect.void
          held.delete(key)
          return connection.use("release claim", () => redis.fastllmRelease(claimPrefix + key, token)).pipe(
            Effect.asVoid,
            Effect.mapError(failure("release"))
          )
        })
    })
  })
