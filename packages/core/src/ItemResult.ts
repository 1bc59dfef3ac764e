/**
 * The result of one item run by the RequestManager: a chat success, an embeddings success, or a
 * failure with its typed error. Every item of a batch gets exactly one.
 *
 * @since 0.2.0
 */
import type { ApiResponse, Kind } from "./ApiRequest.js"
import type { ChatResponse } from "./ChatResponse.js"
import type { EmbeddingResponse } from "./Embedding.js"
import type { ProviderError } from "./LLMError.js"
import type { TokenStats } from "./TokenStats.js"

/**
 * Fields common to every item result.
 *
 * @since 0.2.0
 * @category models
 */
export interface ResultBase {
  /** Position of the item in its batch or stream. */
  readonly index: number
  /** The request key (`RequestKey.make`), or undefined when the request did not even decode. */
  readonly key: string | undefined
  /** Provider calls made for this item (0 for a cache hit or a shared answer). */
  readonly attempts: number
}

/**
 * A chat item that succeeded.
 *
 * @since 0.2.0
 * @category models
 */
export interface ChatSuccess extends ResultBase {
  readonly _tag: "Success"
  readonly kind: "chat"
  readonly response: ChatResponse
  readonly fromCache: boolean
  /** Answered by an identical request in flight at the same time. */
  readonly deduplicated: boolean
  readonly tokens: TokenStats
  /**
   * US dollars this item paid (`Cost`): 0 for a cache hit or a shared answer, undefined when the
   * model has no price.
   */
  readonly cost?: number | undefined
}

/**
 * An embeddings item that succeeded.
 *
 * @since 0.2.0
 * @category models
 */
export interface EmbeddingSuccess extends ResultBase {
  readonly _tag: "Success"
  readonly kind: "embedding"
  readonly response: EmbeddingResponse
  readonly fromCache: boolean
  readonly deduplicated: boolean
  readonly tokens: TokenStats
  /** US dollars this item paid: 0 from the cache or shared, undefined when the model has no price. */
  readonly cost?: number | undefined
}

/**
 * An item that succeeded, of either kind.
 *
 * @since 0.2.0
 * @category models
 */
export type Success = ChatSuccess | EmbeddingSuccess

/**
 * An item that failed, with its typed error.
 *
 * @since 0.2.0
 * @category models
 */
export interface Failure extends ResultBase {
  readonly _tag: "Failure"
  readonly kind: Kind | undefined
  readonly error: ProviderError
}

/**
 * The result of one item.
 *
 * @since 0.2.0
 * @category models
 */
export type ItemResult = Success | Failure

/**
 * The chat response of a success, or undefined for an embeddings result or a failure.
 *
 * @since 0.2.0
 * @category getters
 */
export const chatResponse = (result: ItemResult): ChatResponse | undefined =>
  result._tag === "Success" && result.kind === "chat" ? result.response : undefined

/**
 * The tagged response of a success.
 *
 * @since 0.2.0
 * @category getters
 */
export const apiResponse = (result: ItemResult): ApiResponse | undefined =>
  result._tag === "Failure"
    ? undefined
    : result.kind === "chat"
    ? { _tag: "Chat", response: result.response }
    : { _tag: "Embedding", response: result.response }
