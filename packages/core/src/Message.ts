/**
 * Chat messages, as OpenAI's chat completions API takes them.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import { open, optionalNullable } from "./internal/schema.js"

/**
 * A text content part: `{ type: "text", text }`.
 *
 * @since 0.1.0
 * @category models
 */
export const TextContentPart = open({
  type: Schema.Literal("text"),
  text: Schema.String
})

/**
 * An image content part: `{ type: "image_url", image_url: { url, detail? } }`. The url may be an
 * https URL or a `data:` URL; both are part of the request's cache key.
 *
 * @since 0.1.0
 * @category models
 */
export const ImageContentPart = open({
  type: Schema.Literal("image_url"),
  image_url: open({
    url: Schema.String,
    detail: Schema.optional(Schema.String)
  })
})

/**
 * An audio input content part: `{ type: "input_audio", input_audio: { data, format } }`.
 *
 * @since 0.1.0
 * @category models
 */
export const AudioContentPart = open({
  type: Schema.Literal("input_audio"),
  input_audio: open({ data: Schema.String, format: Schema.String })
})

/**
 * A file content part: `{ type: "file", file: { file_data?, file_id?, filename? } }`.
 *
 * @since 0.1.0
 * @category models
 */
export const FileContentPart = open({
  type: Schema.Literal("file"),
  file: open({
    file_data: Schema.optional(Schema.String),
    file_id: Schema.optional(Schema.String),
    filename: Schema.optional(Schema.String)
  })
})

/**
 * A refusal content part (assistant messages only): `{ type: "refusal", refusal }`.
 *
 * @since 0.1.0
 * @category models
 */
export const RefusalContentPart = open({
  type: Schema.Literal("refusal"),
  refusal: Schema.String
})

const knownPartTypes: ReadonlyArray<string> = ["text", "image_url", "input_audio", "file", "refusal"]

/**
 * A content part of a type this library does not know (for example `video_url` on vLLM). It is
 * passed on untouched; a known type with wrong fields is rejected instead.
 *
 * @since 0.1.0
 * @category models
 */
export const OtherContentPart = open({
  type: Schema.String.pipe(
    Schema.filter((type) => !knownPartTypes.includes(type), {
      message: () => "a content part of a known type has missing or wrong fields"
    })
  )
})

/**
 * Any content part of a user message.
 *
 * @since 0.1.0
 * @category models
 */
export const ContentPart = Schema.Union(
  TextContentPart,
  ImageContentPart,
  AudioContentPart,
  FileContentPart,
  OtherContentPart
)

/**
 * @since 0.1.0
 * @category models
 */
export type ContentPart = typeof ContentPart.Type

const TextContent = Schema.Union(Schema.String, Schema.Array(TextContentPart))

/**
 * A tool call made by the assistant: `{ id, type: "function", function: { name, arguments } }`.
 *
 * @since 0.1.0
 * @category models
 */
export const ToolCall = open({
  id: Schema.String,
  type: Schema.String,
  function: open({ name: Schema.String, arguments: Schema.String })
})

/**
 * @since 0.1.0
 * @category models
 */
export interface ToolCall extends Schema.Schema.Type<typeof ToolCall> {}

/**
 * @since 0.1.0
 * @category models
 */
export const SystemMessage = open({
  role: Schema.Literal("system"),
  content: TextContent,
  name: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export const DeveloperMessage = open({
  role: Schema.Literal("developer"),
  content: TextContent,
  name: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export const UserMessage = open({
  role: Schema.Literal("user"),
  content: Schema.Union(Schema.String, Schema.Array(ContentPart)),
  name: Schema.optional(Schema.String)
})

/**
 * @since 0.1.0
 * @category models
 */
export const AssistantMessage = open({
  role: Schema.Literal("assistant"),
  content: optionalNullable(Schema.Union(Schema.String, Schema.Array(Schema.Union(TextContentPart, RefusalContentPart)))),
  refusal: optionalNullable(Schema.String),
  name: Schema.optional(Schema.String),
  tool_calls: Schema.optional(Schema.Array(ToolCall)),
  function_call: optionalNullable(Schema.Unknown),
  audio: optionalNullable(Schema.Unknown)
})

/**
 * @since 0.1.0
 * @category models
 */
export const ToolMessage = open({
  role: Schema.Literal("tool"),
  content: TextContent,
  tool_call_id: Schema.String
})

/**
 * The deprecated `function` role, still accepted by OpenAI and several compatible servers.
 *
 * @since 0.1.0
 * @category models
 */
export const FunctionMessage = open({
  role: Schema.Literal("function"),
  content: Schema.NullOr(Schema.String),
  name: Schema.String
})

/**
 * One chat message: system, developer, user, assistant, tool (or the legacy function role).
 *
 * @since 0.1.0
 * @category models
 * @example
 * ```ts
 * import { Message } from "@fastllm/core"
 * import * as Schema from "effect/Schema"
 *
 * const message = Schema.decodeUnknownSync(Message.Message)({
 *   role: "user",
 *   content: [
 *     { type: "text", text: "What is in this picture?" },
 *     { type: "image_url", image_url: { url: "https://example.com/cat.png" } }
 *   ]
 * })
 * ```
 */
export const Message = Schema.Union(
  SystemMessage,
  DeveloperMessage,
  UserMessage,
  AssistantMessage,
  ToolMessage,
  FunctionMessage
)

/**
 * @since 0.1.0
 * @category models
 */
export type Message = typeof Message.Type
