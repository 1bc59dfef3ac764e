/**
 * FastLLM testing: a local OpenAI-compatible server with latency, rate limits and fault injection.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as TestServer from "./TestServer.js"

/** @since 0.2.0 */
export * as ServerFlags from "./ServerFlags.js"
