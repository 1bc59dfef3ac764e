/**
 * The `Provider` service: the wire protocol to one LLM API. It knows nothing of batching, caching
 * or retries; the RequestManager does those.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type { ApiRequest, ApiResponse } from "./ApiRequest.js"
import type { ChatRequest } from "./ChatRequest.js"
import type { ChatResponse } from "./ChatResponse.js"
import type { EmbeddingRequest, EmbeddingResponse } from "./Embedding.js"
import { InvalidRequestError, type ProviderError } from "./LLMError.js"
import type { RateLimitInfo } from "./RateLimitHeaders.js"

/**
 * A response plus what its headers said about the rate limits (for the RequestManager to pace
 * itself by).
 *
 * @since 0.1.0
 * @category models
 */
export interface Reply<A> {
  readonly response: A
  readonly rateLimit?: RateLimitInfo | undefined
}

/**
 * Per-call options the RequestManager passes to a provider.
 *
 * @since 0.1.0
 * @category models
 */
export interface CallOptions {
  /** The per-attempt timeout. Only providers with `enforcesTimeout` need to honour it. */
  readonly timeout?: Duration.Duration | undefined
}

/**
 * The Provider service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Provider extends Context.Tag("@fastllm/core/Provider")<Provider, Provider.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace Provider {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** Identifies the provider in cache keys (e.g. `"openai"`). */
    readonly name: string
    /** One chat completion, one attempt. */
    readonly chat: (request: ChatRequest, options?: CallOptions) => Effect.Effect<Reply<ChatResponse>, ProviderError>
    /** One embeddings call, one attempt. */
    readonly embed: (
      request: EmbeddingRequest,
      options?: CallOptions
    ) => Effect.Effect<Reply<EmbeddingResponse>, ProviderError>
    /**
     * True when the provider enforces `CallOptions.timeout` itself (e.g. by aborting the HTTP
     * request), failing with `TimeoutError`. The RequestManager then skips its generic timeout,
     * which costs a fiber fork per attempt. Default false.
     */
    readonly enforcesTimeout?: boolean | undefined
  }
}

/**
 * Builds a provider from plain functions, typically a fake for tests. `embed` defaults to a
 * provider that does not support embeddings (an `InvalidRequestError` per item).
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { Provider } from "@fastllm/core"
 * import * as Effect from "effect/Effect"
 *
 * const echo = Provider.layerFromFunctions({
 *   name: "echo",
 *   chat: (request) =>
 *     Effect.succeed({
 *       id: "echo-1",
 *       model: request.model,
 *       choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }]
 *     })
 * })
 * ```
 */
export const fromFunctions = (options: {
  readonly name: string
  readonly chat: (request: ChatRequest) => Effect.Effect<ChatResponse, ProviderError>
  readonly embed?: (request: EmbeddingRequest) => Effect.Effect<EmbeddingResponse, ProviderError>
}): Provider.Service => {
  const embed = options.embed
  return {
    name: options.name,
    chat: (request) => Effect.map(options.chat(request), (response) => ({ response })),
    embed: embed
      ? (request) => Effect.map(embed(request), (response) => ({ response }))
      : () => Effect.fail(new InvalidRequestError({ reason: `provider ${options.name} does not support embeddings` }))
  }
}

/**
 * {@link fromFunctions} as a Layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromFunctions = (options: Parameters<typeof fromFunctions>[0]): Layer.Layer<Provider> =>
  Layer.succeed(Provider, fromFunctions(options))

/**
 * Sends a tagged request through the provider, returning the tagged response.
 *
 * @since 0.1.0
 * @category combinators
 */
export const send = (
  provider: Provider.Service,
  request: ApiRequest,
  options?: CallOptions
): Effect.Effect<Reply<ApiResponse>, ProviderError> =>
  request._tag === "Chat"
    ? Effect.map(provider.chat(request.request, options), (reply) => ({
      response: { _tag: "Chat", response: reply.response },
      rateLimit: reply.rateLimit
    }))
    : Effect.map(provider.embed(request.request, options), (reply) => ({
      response: { _tag: "Embedding", response: reply.response },
      rateLimit: reply.rateLimit
    }))

/**
 * One attempt of a provider's `chat` / `embed` (by the request's tag) as a callback: starts the
 * call and calls `done` once with its outcome, unless the returned function (which aborts the
 * call) is called first. It must enforce `CallOptions.timeout` as the provider does.
 *
 * @since 0.3.0
 * @category models
 */
export type UnsafeCall = (
  request: ApiRequest,
  options: CallOptions | undefined,
  done: (outcome: Either.Either<Reply<ApiResponse>, ProviderError>) => void
) => () => void

const unsafeCalls = new WeakMap<object, { readonly embed: object; readonly call: UnsafeCall }>()

/**
 * Declares `call` the callback form of `service`'s `chat` and `embed`: the RequestManager then
 * runs an attempt (slot wait, call, reply) as one suspension of the item's fiber instead of a
 * chain of effects, which matters with many calls in flight (`node
 * --conditions=@fastllm/source --import tsx bench/lib/gcInFlight.ts --base a853231`). Kept
 * with the two functions, not in the service: a service that wraps this one (`{ ...inner, chat }`)
 * has other functions and is called the ordinary way.
 *
 * @since 0.3.0
 * @category constructors
 */
export const withUnsafeCall = (service: Provider.Service, call: UnsafeCall): Provider.Service => {
  unsafeCalls.set(service.chat, { embed: service.embed, call })
  return service
}

/**
 * The callback form declared by {@link withUnsafeCall}, if `service`'s `chat` and `embed` are the
 * ones it was declared for.
 *
 * @since 0.3.0
 * @category getters
 */
export const unsafeCallOf = (service: Provider.Service): UnsafeCall | undefined => {
  const entry = unsafeCalls.get(service.chat)
  return entry !== undefined && entry.embed === service.embed ? entry.call : undefined
}
