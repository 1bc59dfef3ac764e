/**
 * One call to the API, of either kind, as the RequestManager handles it: a chat completion or an
 * embeddings request, and the matching response.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { ChatRequest } from "./ChatRequest.js"
import { ChatResponse } from "./ChatResponse.js"
import { EmbeddingRequest, EmbeddingResponse } from "./Embedding.js"
import { isChatRequest } from "./internal/requestGuard.js"
import { onFirstCall } from "./internal/schema.js"
import { InvalidRequestError } from "./LLMError.js"

/**
 * A decoded request with its kind.
 *
 * @since 0.1.0
 * @category models
 */
export const ApiRequest = Schema.Union(
  Schema.TaggedStruct("Chat", { request: ChatRequest }),
  Schema.TaggedStruct("Embedding", { request: EmbeddingRequest })
)

/**
 * @since 0.1.0
 * @category models
 */
export type ApiRequest = typeof ApiRequest.Type

/**
 * A response with its kind; what caches store.
 *
 * @since 0.1.0
 * @category models
 */
export const ApiResponse = Schema.Union(
  Schema.TaggedStruct("Chat", { response: ChatResponse }),
  Schema.TaggedStruct("Embedding", { response: EmbeddingResponse })
)

/**
 * @since 0.1.0
 * @category models
 */
export type ApiResponse = typeof ApiResponse.Type

/**
 * The kind of a request: `"chat"` (`/chat/completions`) or `"embedding"` (`/embeddings`).
 *
 * @since 0.1.0
 * @category models
 */
export type Kind = "chat" | "embedding"

/**
 * What `RequestManager.run` accepts: a chat request or an embeddings request in its JSON form
 * (told apart by `messages` / `input`), or an already tagged {@link ApiRequest}. Anything else is
 * reported as an `InvalidRequestError` for that item alone.
 *
 * @since 0.1.0
 * @category models
 */
export type Input = Schema.Schema.Encoded<typeof ChatRequest> | Schema.Schema.Encoded<typeof EmbeddingRequest> | ApiRequest

/**
 * Tags a chat request.
 *
 * @since 0.1.0
 * @category constructors
 */
export const chat = (request: ChatRequest): ApiRequest => ({ _tag: "Chat", request })

/**
 * Tags an embeddings request.
 *
 * @since 0.1.0
 * @category constructors
 */
export const embedding = (request: EmbeddingRequest): ApiRequest => ({ _tag: "Embedding", request })

// compiled on first use (internal/schema.ts `onFirstCall`: the guard answers valid chat requests)
const decodeChat = onFirstCall(() => Schema.decodeUnknownEither(ChatRequest))
const decodeEmbedding = onFirstCall(() => Schema.decodeUnknownEither(EmbeddingRequest))

const isRecord = (u: unknown): u is Readonly<Record<string, unknown>> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Turns a Schema parse error into an {@link InvalidRequestError} naming the first offending field.
 *
 * @since 0.1.0
 * @category errors
 */
export const invalidRequestFromParseError = (error: ParseResult.ParseError): InvalidRequestError => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  if (first === undefined) return new InvalidRequestError({ reason: error.message })
  const path = first.path.map((segment, i) =>
    typeof segment === "number" ? `[${segment}]` : i === 0 ? String(segment) : `.${String(segment)}`
  ).join("")
  return new InvalidRequestError(path === "" ? { reason: first.message } : { reason: first.message, path })
}

/**
 * Marks the requests this module decoded itself: passing one back (e.g. from a RequestBatch) skips
 * the work. A non-enumerable property, invisible to JSON, spreads and deep equality. A `WeakSet` did
 * the same at ~1 µs per item (its `add` on every decode), the property at ~0.15 µs
 * (`npx tsx bench/lib/libSteps.ts --base 1894c16 --only hit`).
 */
const decodedMark: unique symbol = Symbol("@fastllm/core/ApiRequest/decoded")

const remember = (request: ApiRequest): ApiRequest => {
  Object.defineProperty(request, decodedMark, { value: true })
  return request
}

const isRemembered = (input: object): input is ApiRequest =>
  (input as { readonly [decodedMark]?: unknown })[decodedMark] === true

/**
 * Decodes one input into an {@link ApiRequest}. With `kind` given, the input must be of that kind;
 * without it, `messages` means chat and `input` means embeddings. A request that came out of this
 * function before is returned as it is (requests are immutable).
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (input: unknown, kind?: Kind): Either.Either<ApiRequest, InvalidRequestError> => {
  if (typeof input === "object" && input !== null && isRemembered(input)) {
    const known = input
    if (kind === undefined || known._tag === (kind === "chat" ? "Chat" : "Embedding")) return Either.right(known)
  }
  if (!isRecord(input)) {
    return Either.left(new InvalidRequestError({ reason: "a request must be a JSON object" }))
  }
  if (input._tag === "Chat" || input._tag === "Embedding") {
    const tagged: Kind = input._tag === "Chat" ? "chat" : "embedding"
    if (kind !== undefined && kind !== tagged) {
      return Either.left(new InvalidRequestError({ reason: `expected a ${kind} request, got a ${tagged} request` }))
    }
    return decode(input.request, tagged)
  }
  const resolved: Kind | undefined = kind ?? ("messages" in input ? "chat" : "input" in input ? "embedding" : undefined)
  switch (resolved) {
    case "chat":
      // the guarded decode: a valid request is used as it is, not copied (internal/requestGuard.ts)
      if (isChatRequest(input)) return Either.right(remember(chat(input as ChatRequest)))
      return Either.mapBoth(decodeChat(input), {
        onLeft: invalidRequestFromParseError,
        onRight: (request) => remember(chat(request))
      })
    case "embedding":
      return Either.mapBoth(decodeEmbedding(input), {
        onLeft: invalidRequestFromParseError,
        onRight: (request) => remember(embedding(request))
      })
    case undefined:
      return Either.left(
        new InvalidRequestError({
          reason: "a request needs `messages` (a chat completion) or `input` (an embeddings request)"
        })
      )
  }
}

/**
 * The request's model.
 *
 * @since 0.1.0
 * @category getters
 */
export const model = (request: ApiRequest): string => request.request.model
