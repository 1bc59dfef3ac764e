/**
 * FastLLM on Redis: a shared cache with single-flight across processes, global rate limits, and a
 * job queue on Redis Streams, so any number of workers share one budget and one cache.
 *
 * @since 0.2.0
 */

/** @since 0.2.0 */
export * as RedisCache from "./RedisCache.js"
/** @since 0.2.0 */
export * as RedisConnection from "./RedisConnection.js"
/** @since 0.2.0 */
export * as JobQueue from "./JobQueue.js"
/** @since 0.2.0 */
export * as RedisRateLimiter from "./RedisRateLimiter.js"
