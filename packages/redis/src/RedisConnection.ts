/**
 * One connection to Redis, shared by the Redis cache, the rate-limit store and the job queue of a
 * process: an ioredis 5 client with auto-pipelining (commands issued in the same tick travel in one
 * round trip), a key prefix that separates one deployment (or one test) from another, and errors
 * that name the server without its password.
 *
 * @since 0.2.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Redis } from "ioredis"
import type { RedisError } from "./internal/redisError.js"
import * as internal from "./internal/connection.js"

/**
 * Redis failed or could not be reached. `url` is the server's address with any password replaced
 * by `***`; `reason` never holds the password either.
 *
 * @since 0.2.0
 * @category errors
 */
export { RedisError } from "./internal/redisError.js"

/**
 * Options of a connection.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** `redis://[[user]:password@]host[:port][/db]` (or `rediss://` for TLS). */
  readonly url: Redacted.Redacted<string> | string
  /** Prepended to every key this library writes. Default `"fastllm:"`. */
  readonly prefix?: string | undefined
  /** How long to wait for the first connection. Default 5 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * The connection's tag.
 *
 * @since 0.2.0
 * @category tags
 */
export class RedisConnection extends Context.Tag("@fastllm/redis/RedisConnection")<
  RedisConnection,
  RedisConnection.Service
>() {}

/**
 * @since 0.2.0
 */
export declare namespace RedisConnection {
  /**
   * @since 0.2.0
   * @category models
   */
  export interface Service {
    /** The ioredis client (auto-pipelining on). */
    readonly client: Redis
    /** The key prefix. */
    readonly prefix: string
    /** The URL with its password replaced by `***`: safe to print. */
    readonly displayUrl: string
    /** Runs a command; a rejection becomes a {@link RedisError} naming `operation`. */
    readonly use: <A>(operation: string, f: (client: Redis) => Promise<A>) => Effect.Effect<A, RedisError>
  }
}

/**
 * A URL with its password (and user) replaced by `***`, for messages and logs.
 *
 * @since 0.2.0
 * @category formatting
 */
export const displayUrl: (url: Redacted.Redacted<string> | string) => string = (url) =>
  internal.displayUrl(typeof url === "string" ? url : Redacted.value(url))

/**
 * Connects (failing with a {@link RedisError} naming the URL when the server cannot be reached
 * within `connectTimeout`), and disconnects when the scope closes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<RedisConnection.Service, RedisError, Scope.Scope> =
  internal.make

/**
 * The connection as a layer.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<RedisConnection, RedisError> =>
  Layer.scoped(RedisConnection, make(options))

/**
 * The connection from configuration: `FASTLLM_REDIS_URL` (redacted) and `FASTLLM_REDIS_PREFIX`
 * (default `fastllm:`).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (): Layer.Layer<RedisConnection, RedisError | ConfigError.ConfigError> =>
  Layer.scoped(
    RedisConnection,
    Effect.flatMap(
      Config.all({
        url: Config.redacted("FASTLLM_REDIS_URL"),
        prefix: Config.withDefault(Config.string("FASTLLM_REDIS_PREFIX"), "fastllm:")
      }),
      make
    )
  )
