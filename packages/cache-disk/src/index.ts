/**
 * FastLLM persistent disk cache: the core `Cache` service on LMDB, with TTL, a size bound and
 * crash-safe writes.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as DiskCache from "./DiskCache.js"
