/**
 * Test kits for FastLLM backends: the cache contract suite every `Cache` backend must pass.
 * Imports `@effect/vitest`, so only test code should import this entry point.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * from "./CacheContract.js"
