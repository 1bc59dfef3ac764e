/**
 * The answer to one item of a batch, as the seed (FastLLM for Python) hands it back: the request
 * id, the typed response, its usage, whether it came from the cache, and — unlike the original —
 * accessors that work for embeddings as well as chat, plus the typed error of a failed item.
 *
 * A `ResponseWrapper` is plain data built from an `ItemResult`; `RequestBatch.process`
 * returns one per item, in batch order.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import type { Kind } from "./ApiRequest.js"
import * as ChatResponseModule from "./ChatResponse.js"
import type { ChatResponse, Usage } from "./ChatResponse.js"
import * as EmbeddingModule from "./Embedding.js"
import type { EmbeddingResponse } from "./Embedding.js"
import type { ProviderError } from "./LLMError.js"
import type { ChatSuccess, EmbeddingSuccess, Failure as ItemFailure, ItemResult } from "./ItemResult.js"
import * as TokenStats from "./TokenStats.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@fastllm/core/ResponseWrapper")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * What every wrapper has, whatever its kind and outcome.
 *
 * @since 0.1.0
 * @category models
 */
export interface Base {
  readonly [TypeId]: TypeId
  /** The request's id: `${key}#${position}` (`invalid#${position}` when the request did not decode). */
  readonly requestId: string
  /** The request's cache key (`RequestKey.make`), or undefined when the request did not decode. */
  readonly key: string | undefined
  /** The item's position in its batch. */
  readonly position: number
  /** Provider calls made for this item (0 for a cache hit, a shared answer or an invalid request). */
  readonly attempts: number
  /** Answered by an identical request in flight at the same time (one API call, shared). */
  readonly deduplicated: boolean
  /** The usage as token counts; all zero for a failure or a response without `usage`. */
  readonly tokens: TokenStats.TokenStats
}

/**
 * A chat completion that succeeded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Chat extends Base {
  readonly _tag: "Success"
  readonly kind: "chat"
  readonly isEmbedding: false
  readonly response: ChatResponse
  /** The response's `usage` block as the API sent it. */
  readonly usage: Usage | undefined
  readonly fromCache: boolean
  /** No embeddings in a chat response: always empty. */
  readonly embeddings: ReadonlyArray<ReadonlyArray<number>>
  /** The text of the first choice. */
  readonly text: string | undefined
  readonly error: undefined
}

/**
 * An embeddings request that succeeded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Embedding extends Base {
  readonly _tag: "Success"
  readonly kind: "embedding"
  readonly isEmbedding: true
  readonly response: EmbeddingResponse
  /** The response's `usage` block as the API sent it (`prompt_tokens` and `total_tokens`). */
  readonly usage: Usage | undefined
  readonly fromCache: boolean
  /** The vectors in input order; base64 vectors are decoded (computed on first read). */
  readonly embeddings: ReadonlyArray<ReadonlyArray<number>>
  readonly text: undefined
  readonly error: undefined
}

/**
 * An item that failed, with its typed error.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure extends Base {
  readonly _tag: "Failure"
  /** The request's kind; undefined when the request was not even recognisable. */
  readonly kind: Kind | undefined
  /** Whether the failed request was an embeddings request. */
  readonly isEmbedding: boolean
  readonly response: undefined
  readonly usage: undefined
  readonly fromCache: false
  readonly embeddings: ReadonlyArray<ReadonlyArray<number>>
  readonly text: undefined
  readonly error: ProviderError
}

/**
 * The answer to one item: a chat success, an embeddings success or a failure. Every accessor is
 * present on all three, so code written for one kind reads the others without checks. For the
 * precise response type, narrow on `_tag` (or `isSuccess`), then on `kind` or `isEmbedding`.
 *
 * @since 0.1.0
 * @category models
 */
export type ResponseWrapper = Chat | Embedding | Failure

const noVectors: ReadonlyArray<ReadonlyArray<number>> = []

const requestIdOf = (key: string | undefined, position: number): string => `${key ?? "invalid"}#${position}`

/**
 * Wraps a chat success.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chat = (result: ChatSuccess, requestId?: string): Chat => {
  const response = result.response
  return {
    [TypeId]: TypeId,
    _tag: "Success",
    kind: "chat",
    isEmbedding: false,
    requestId: requestId ?? requestIdOf(result.key, result.index),
    key: result.key,
    position: result.index,
    attempts: result.attempts,
    deduplicated: result.deduplicated,
    fromCache: result.fromCache,
    response,
    usage: response.usage ?? undefined,
    tokens: result.tokens,
    embeddings: noVectors,
    text: ChatResponseModule.text(response),
    error: undefined
  }
}

/**
 * Wraps an embeddings success. The vectors are decoded when `embeddings` is first read.
 *
 * @since 0.1.0
 * @category constructors
 */
export const embedding = (result: EmbeddingSuccess, requestId?: string): Embedding => {
  const response = result.response
  let vectors: ReadonlyArray<ReadonlyArray<number>> | undefined
  return {
    [TypeId]: TypeId,
    _tag: "Success",
    kind: "embedding",
    isEmbedding: true,
    requestId: requestId ?? requestIdOf(result.key, result.index),
    key: result.key,
    position: result.index,
    attempts: result.attempts,
    deduplicated: result.deduplicated,
    fromCache: result.fromCache,
    response,
    usage: response.usage ?? undefined,
    tokens: result.tokens,
    get embeddings() {
      return vectors ??= EmbeddingModule.vectors(response)
    },
    text: undefined,
    error: undefined
  }
}

/**
 * Wraps a failure.
 *
 * @since 0.1.0
 * @category constructors
 */
export const failure = (result: ItemFailure, requestId?: string): Failure => ({
  [TypeId]: TypeId,
  _tag: "Failure",
  kind: result.kind,
  isEmbedding: result.kind === "embedding",
  requestId: requestId ?? requestIdOf(result.key, result.index),
  key: result.key,
  position: result.index,
  attempts: result.attempts,
  deduplicated: false,
  fromCache: false,
  response: undefined,
  usage: undefined,
  tokens: TokenStats.empty,
  embeddings: noVectors,
  text: undefined,
  error: result.error
})

/**
 * Wraps a `RequestManager` item result. The id defaults to `${key}#${index}`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResult = (result: ItemResult, requestId?: string): ResponseWrapper =>
  result._tag === "Failure"
    ? failure(result, requestId)
    : result.kind === "chat"
    ? chat(result, requestId)
    : embedding(result, requestId)

/**
 * Whether a value is a ResponseWrapper.
 *
 * @since 0.1.0
 * @category guards
 */
export const isResponseWrapper = (u: unknown): u is ResponseWrapper =>
  typeof u === "object" && u !== null && TypeId in u

/**
 * Whether the item succeeded.
 *
 * @since 0.1.0
 * @category guards
 */
export const isSuccess = (self: ResponseWrapper): self is Chat | Embedding => self._tag === "Success"

/**
 * Whether the item failed.
 *
 * @since 0.1.0
 * @category guards
 */
export const isFailure = (self: ResponseWrapper): self is Failure => self._tag === "Failure"

/**
 * The response, or the typed error. An `Either` is yieldable, so in `Effect.gen`
 * `yield* ResponseWrapper.toEither(wrapper)` fails the surrounding effect with the item's error.
 *
 * @since 0.1.0
 * @category conversions
 */
export const toEither = (self: ResponseWrapper): Either.Either<ChatResponse | EmbeddingResponse, ProviderError> =>
  self._tag === "Failure" ? Either.left(self.error) : Either.right(self.response)
