/**
 * The chat completion response, decoded tolerantly: OpenAI-compatible servers (vLLM, Ollama,
 * OpenRouter, LM Studio) omit optional fields, add their own, and invent finish reasons.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { isChatResponse } from "./internal/responseGuard.js"
import { open, optionalNullable } from "./internal/schema.js"
import { ToolCall } from "./Message.js"

/**
 * Token usage as OpenAI reports it (`CompletionUsage`). Embedding responses carry only
 * `prompt_tokens` and `total_tokens`.
 *
 * @since 0.1.0
 * @category models
 */
export const Usage = open({
  prompt_tokens: Schema.Number,
  completion_tokens: Schema.optional(Schema.Number),
  total_tokens: Schema.Number,
  prompt_tokens_details: optionalNullable(open({
    cached_tokens: optionalNullable(Schema.Number),
    audio_tokens: optionalNullable(Schema.Number)
  })),
  completion_tokens_details: optionalNullable(open({
    reasoning_tokens: optionalNullable(Schema.Number),
    audio_tokens: optionalNullable(Schema.Number),
    accepted_prediction_tokens: optionalNullable(Schema.Number),
    rejected_prediction_tokens: optionalNullable(Schema.Number)
  }))
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Usage extends Schema.Schema.Type<typeof Usage> {}

/**
 * The assistant message of a choice. `role` is optional because some servers omit it.
 *
 * @since 0.1.0
 * @category models
 */
export const ResponseMessage = open({
  role: Schema.optional(Schema.String),
  content: optionalNullable(Schema.String),
  refusal: optionalNullable(Schema.String),
  tool_calls: optionalNullable(Schema.Array(ToolCall)),
  function_call: optionalNullable(Schema.Unknown),
  audio: optionalNullable(Schema.Unknown),
  annotations: optionalNullable(Schema.Unknown),
  reasoning_content: optionalNullable(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface ResponseMessage extends Schema.Schema.Type<typeof ResponseMessage> {}

/**
 * One choice. `finish_reason` is any string: servers send values beyond OpenAI's enum.
 *
 * @since 0.1.0
 * @category models
 */
export const Choice = open({
  index: Schema.Number,
  message: ResponseMessage,
  finish_reason: optionalNullable(Schema.String),
  logprobs: optionalNullable(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category models
 */
export interface Choice extends Schema.Schema.Type<typeof Choice> {}

/**
 * A chat completion response. Unknown fields are kept; `usage` may be absent.
 *
 * @since 0.1.0
 * @category models
 */
export const ChatResponse = open({
  id: Schema.String,
  object: Schema.optional(Schema.String),
  created: Schema.optional(Schema.Number),
  model: Schema.String,
  choices: Schema.Array(Choice),
  usage: optionalNullable(Usage),
  system_fingerprint: optionalNullable(Schema.String),
  service_tier: optionalNullable(Schema.String)
}).annotations({ identifier: "ChatResponse" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ChatResponse extends Schema.Schema.Type<typeof ChatResponse> {}

/**
 * The seed's name for a chat completion response.
 *
 * @since 0.1.0
 * @category models
 */
export const LLMResponse = ChatResponse

/**
 * @since 0.1.0
 * @category models
 */
export type LLMResponse = ChatResponse

/**
 * The text of the first choice, if any.
 *
 * @since 0.1.0
 * @category getters
 */
export const text = (response: ChatResponse): string | undefined => response.choices[0]?.message.content ?? undefined

const decodeSchema = Schema.decodeUnknownEither(ChatResponse)

/**
 * `Schema.decodeUnknownEither(ChatResponse)`, fast for the common case: a value the schema accepts
 * comes back as it is (the schema has no transformations and keeps unknown fields, so its decode
 * would return an equal copy); anything else goes through the schema for its typed error. The
 * provider decodes every reply with it (`npx tsx bench/lib/responseDecode.ts`: ~13 µs → <1 µs).
 *
 * @since 0.2.0
 * @category decoding
 */
export const decodeUnknownEither = (input: unknown): Either.Either<ChatResponse, ParseResult.ParseError> =>
  // the guard checks every field the schema declares, so the value is a ChatResponse
  isChatResponse(input) ? Either.right(input as ChatResponse) : decodeSchema(input)
