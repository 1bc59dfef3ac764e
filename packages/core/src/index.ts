/**
 * FastLLM core: models, errors, the Provider and Cache services, request keys and the RequestManager.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as ApiRequest from "./ApiRequest.js"
/** @since 0.2.0 */
export * as BatchExecutor from "./BatchExecutor.js"
/** @since 0.2.0 */
export * as BatchJob from "./BatchJob.js"
/** @since 0.1.0 */
export * as BatchStats from "./BatchStats.js"
/** @since 0.1.0 */
export * as Cache from "./Cache.js"
/** @since 0.1.0 */
export * as ChatRequest from "./ChatRequest.js"
/** @since 0.1.0 */
export * as ChatResponse from "./ChatResponse.js"
/** @since 0.1.0 */
export * as Embedding from "./Embedding.js"
/** @since 0.2.0 */
export * as ItemResult from "./ItemResult.js"
/** @since 0.1.0 */
export * as LLMError from "./LLMError.js"
/** @since 0.1.0 */
export * as Message from "./Message.js"
/** @since 0.1.0 */
export * as Provider from "./Provider.js"
/** @since 0.1.0 */
export * as RateLimitHeaders from "./RateLimitHeaders.js"
/** @since 0.1.0 */
export * as RequestKey from "./RequestKey.js"
/** @since 0.1.0 */
export * as RequestManager from "./RequestManager.js"
/** @since 0.1.0 */
export * as TokenStats from "./TokenStats.js"
/** @since 0.1.0 */
export * as RequestBatch from "./RequestBatch.js"
/** @since 0.1.0 */
export * as ResponseWrapper from "./ResponseWrapper.js"
/** @since 0.2.0 */
export * as Cost from "./Cost.js"
/** @since 0.2.0 */
export * as Estimate from "./Estimate.js"
/** @since 0.2.0 */
export * as Structured from "./Structured.js"
