/**
 * FastLLM's OpenAI-compatible provider: chat completions and embeddings over `@effect/platform`'s
 * `HttpClient`, with a lean undici transport by default.
 *
 * @since 0.1.0
 */

/** @since 0.2.0 */
export * as OpenAiBatch from "./OpenAiBatch.js"
/** @since 0.1.0 */
export * as OpenAiProvider from "./OpenAiProvider.js"
/** @since 0.1.0 */
export * as UndiciHttpClient from "./UndiciHttpClient.js"
/** @since 0.2.0 */
export * as OpenAiConfig from "./OpenAiConfig.js"
