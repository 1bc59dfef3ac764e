/**
 * The chat completion request (`POST /chat/completions`).
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { NonNegativeInt, open, optionalNullable, UnknownRecord } from "./internal/schema.js"
import { Message } from "./Message.js"

/**
 * A tool the model may call: `{ type: "function", function: { name, description?, parameters?, strict? } }`.
 *
 * @since 0.1.0
 * @category models
 */
export const Tool = open({
  type: Schema.String,
  function: Schema.optional(open({
    name: Schema.String,
    description: Schema.optional(Schema.String),
    parameters: Schema.optional(Schema.Unknown),
    strict: optionalNullable(Schema.Boolean)
  }))
})

/**
 * @since 0.1.0
 * @category models
 */
export const ResponseFormat = open({
  type: Schema.String,
  json_schema: Schema.optional(Schema.Unknown)
})

/**
 * A chat completion request: `model`, `messages` and every optional parameter of OpenAI's chat
 * completions API. Fields this library does not know are kept and sent on unchanged, so new API
 * options (and server-specific ones such as vLLM's `top_k`) work without a release.
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import { ChatRequest } from "@fastllm/core"
 * import * as Schema from "effect/Schema"
 *
 * const request = Schema.decodeUnknownSync(ChatRequest.ChatRequest)({
 *   model: "gpt-4o-mini",
 *   messages: [{ role: "user", content: "Say hello" }],
 *   temperature: 0,
 *   top_k: 20 // unknown to OpenAI's schema: kept and sent on
 * })
 * ```
 */
export const ChatRequest = Schema.Struct(
  {
    model: Schema.NonEmptyString.annotations({ message: () => "model must be a non-empty string" }),
    messages: Schema.Array(Message).pipe(
      Schema.minItems(1, { message: () => "messages must contain at least one message" })
    ),
    frequency_penalty: optionalNullable(Schema.Number),
    presence_penalty: optionalNullable(Schema.Number),
    logit_bias: optionalNullable(Schema.Record({ key: Schema.String, value: Schema.Number })),
    logprobs: optionalNullable(Schema.Boolean),
    top_logprobs: optionalNullable(NonNegativeInt),
    max_tokens: optionalNullable(NonNegativeInt),
    max_completion_tokens: optionalNullable(NonNegativeInt),
    n: optionalNullable(Schema.Int.pipe(Schema.positive())),
    seed: optionalNullable(Schema.Int),
    stop: optionalNullable(Schema.Union(Schema.String, Schema.Array(Schema.String))),
    temperature: optionalNullable(Schema.Number),
    top_p: optionalNullable(Schema.Number),
    response_format: Schema.optional(ResponseFormat),
    tools: Schema.optional(Schema.Array(Tool)),
    tool_choice: Schema.optional(Schema.Union(Schema.String, open({ type: Schema.String }))),
    parallel_tool_calls: Schema.optional(Schema.Boolean),
    functions: Schema.optional(Schema.Array(Schema.Unknown)),
    function_call: Schema.optional(Schema.Unknown),
    user: Schema.optional(Schema.String),
    store: optionalNullable(Schema.Boolean),
    metadata: optionalNullable(Schema.Record({ key: Schema.String, value: Schema.String })),
    stream: optionalNullable(Schema.Boolean),
    stream_options: optionalNullable(Schema.Unknown),
    service_tier: optionalNullable(Schema.String),
    reasoning_effort: optionalNullable(Schema.String),
    verbosity: optionalNullable(Schema.String),
    modalities: optionalNullable(Schema.Array(Schema.String)),
    audio: optionalNullable(Schema.Unknown),
    prediction: optionalNullable(Schema.Unknown),
    prompt_cache_key: Schema.optional(Schema.String),
    safety_identifier: Schema.optional(Schema.String),
    web_search_options: Schema.optional(Schema.Unknown)
  },
  UnknownRecord
).annotations({ identifier: "ChatRequest" })

/**
 * @since 0.1.0
 * @category models
 */
export interface ChatRequest extends Schema.Schema.Type<typeof ChatRequest> {}

/**
 * The JSON form of a {@link ChatRequest}: what users write and what goes on the wire.
 *
 * @since 0.1.0
 * @category models
 */
export interface ChatRequestInput extends Schema.Schema.Encoded<typeof ChatRequest> {}

/**
 * The seed's name for a chat completion request.
 *
 * @since 0.1.0
 * @category models
 */
export const LLMRequest = ChatRequest

/**
 * @since 0.1.0
 * @category models
 */
export type LLMRequest = ChatRequest
