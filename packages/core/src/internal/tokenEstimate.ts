import type { ApiRequest } from "../ApiRequest.js"
import type { ChatRequest } from "../ChatRequest.js"
import type { EmbeddingRequest } from "../Embedding.js"
import type { ContentPart, Message } from "../Message.js"

/*
 * Token estimates for the tokens-per-minute budget, before a request is sent.
 *
 * What counts is what the server's rate limiter charges, not what it bills. OpenAI documents it:
 * a request costs "the maximum of max_tokens and the estimated number of tokens based on the
 * character count of your request", charged when the request arrives. So the estimate is:
 *
 * - prompt text (every message's text, tool calls, tools, functions, the JSON schema): all its
 *   characters / 4, rounded up once (OpenAI's rule of thumb for English; the testing server
 *   charges exactly this),
 * - images: 85 tokens at `detail: "low"`, else 765 (a 1024×1024 image at high detail),
 * - audio and files: a flat 1,000 tokens each (their cost depends on duration/pages, not bytes),
 * - output: `max_completion_tokens` (or `max_tokens`) per choice, or without either the running
 *   average of real completions (256 until the first response), times `n`,
 * - embeddings: each input's characters / 4, rounded up; token-array inputs count exactly.
 *
 * No tokenizer here, on purpose: the limiter does not tokenize either (it charges by characters),
 * so exact token counts would not match what it charges, and OpenAI's tokenizer (gpt-tokenizer,
 * which `Estimate` uses for prices) costs ~11 µs per 150-character prompt and 0.5 s to load
 * (measured with a 20,000-prompt loop under node 20 here) against ~0.1 µs for this count.
 * Message framing tokens (OpenAI's ~3 per message) are left out for the same reason.
 */

/** Characters per token of English text (OpenAI's rule of thumb). @internal */
export const charsPerToken = 4

/** @internal */
export const lowDetailImageTokens = 85

/** @internal */
export const highDetailImageTokens = 765

/** @internal */
export const binaryPartTokens = 1_000

/**
 * Completion tokens assumed per choice when the request sets no `max_tokens` /
 * `max_completion_tokens` and no response has told us the real average yet.
 *
 * @internal
 */
export const defaultCompletionTokens = 256

/** Tokens of a piece of text. @internal */
export const textTokens = (text: string): number => Math.ceil(text.length / charsPerToken)

/**
 * Text, images and attachments of one prompt. Text is counted as characters (divided by 4 once, at
 * the end) or, given a tokenizer, as its tokens.
 */
class PromptSize {
  chars = 0
  tokens = 0
  constructor(readonly tokenize?: (text: string) => number) {}
  text(text: string): void {
    if (this.tokenize === undefined) this.chars += text.length
    else this.tokens += this.tokenize(text)
  }
  json(value: unknown): void {
    if (value !== undefined) this.text(JSON.stringify(value) ?? "")
  }
  part(part: ContentPart): void {
    if ("text" in part && typeof part.text === "string") this.text(part.text)
    else if ("refusal" in part && typeof part.refusal === "string") this.text(part.refusal)
    else if ("image_url" in part && typeof part.image_url === "object" && part.image_url !== null) {
      this.tokens += "detail" in part.image_url && part.image_url.detail === "low"
        ? lowDetailImageTokens
        : highDetailImageTokens
    } else if (part.type === "input_audio" || part.type === "file") this.tokens += binaryPartTokens
    else this.json(part)
  }
  content(content: string | ReadonlyArray<ContentPart> | null | undefined): void {
    if (content === null || content === undefined) return
    if (typeof content === "string") this.text(content)
    else for (const part of content) this.part(part)
  }
  message(message: Message): void {
    this.content(message.content)
    if (message.role === "assistant" && message.tool_calls !== undefined) this.json(message.tool_calls)
  }
  get total(): number {
    return Math.ceil(this.chars / charsPerToken) + this.tokens
  }
}

const measureChat = (request: ChatRequest, size: PromptSize): number => {
  for (const message of request.messages) size.message(message)
  size.json(request.tools)
  size.json(request.functions)
  size.json(request.response_format?.json_schema)
  return size.total
}

/**
 * Estimated prompt tokens of a chat request: messages, tools and response schema.
 *
 * @internal
 */
export const chatPromptTokens = (request: ChatRequest): number => measureChat(request, new PromptSize())

/**
 * Tokens OpenAI adds around each chat message (role and separators), and once to prime the reply.
 *
 * @internal
 */
export const messageFramingTokens = 3

/**
 * Prompt tokens of a chat request counted with a tokenizer, framing included as OpenAI's cookbook
 * counts it (3 tokens per message plus its role and name, and 3 for the reply). Images and
 * attachments as in the estimate.
 *
 * @internal
 */
export const chatPromptTokensWith = (request: ChatRequest, tokenize: (text: string) => number): number => {
  let framing = messageFramingTokens
  for (const message of request.messages) {
    framing += messageFramingTokens + tokenize(message.role)
    if ("name" in message && typeof message.name === "string") framing += 1 + tokenize(message.name)
  }
  return measureChat(request, new PromptSize(tokenize)) + framing
}

/**
 * Tokens of an embeddings request's inputs, text counted by `tokenize`.
 *
 * @internal
 */
export const embeddingTokensWith = (request: EmbeddingRequest, tokenize: (text: string) => number): number => {
  const input = request.input
  if (typeof input === "string") return tokenize(input)
  let tokens = 0
  for (const item of input) {
    if (typeof item === "string") tokens += tokenize(item)
    else if (typeof item === "number") tokens += 1
    else tokens += item.length
  }
  return tokens
}

/**
 * The output a chat request may produce: `max_completion_tokens` (or `max_tokens`) per choice,
 * else `averageCompletion` per choice.
 *
 * @internal
 */
export const chatCompletionTokens = (request: ChatRequest, averageCompletion: number): number => {
  const choices = request.n ?? 1
  const perChoice = request.max_completion_tokens ?? request.max_tokens ?? averageCompletion
  return Math.ceil(perChoice) * choices
}

/**
 * Estimated tokens of an embeddings request (inputs only: embeddings produce no tokens).
 *
 * @internal
 */
export const embeddingTokens = (request: EmbeddingRequest): number => embeddingTokensWith(request, textTokens)

/**
 * The tokens a request is expected to use against a tokens-per-minute budget: prompt estimate
 * plus its maximum (or typical) output.
 *
 * @internal
 */
export const estimate = (request: ApiRequest, averageCompletion: number): number =>
  request._tag === "Chat"
    ? chatPromptTokens(request.request) + chatCompletionTokens(request.request, averageCompletion)
    : embeddingTokens(request.request)
