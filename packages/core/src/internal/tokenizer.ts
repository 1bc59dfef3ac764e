import * as Effect from "effect/Effect"
import type { ApiRequest } from "../ApiRequest.js"
import * as tokenEstimate from "./tokenEstimate.js"

/** Counts a request's tokens: prompt (tokenized where the model is OpenAI's) and assumed output. */
export interface TokenCounter {
  readonly requestTokens: (
    request: ApiRequest,
    averageCompletion: number
  ) => { readonly prompt: number; readonly output: number; readonly tokenized: boolean }
}

type Encoding = "o200k_base" | "cl100k_base"

/**
 * The encoding OpenAI uses for a model, or undefined for other vendors' models (which are then
 * counted as characters / 4). Provider prefixes such as OpenRouter's `openai/` are ignored.
 *
 * @internal
 */
export const encodingOf = (model: string): Encoding | undefined => {
  const name = model.startsWith("openai/") ? model.slice("openai/".length) : model
  if (/^(gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|o1|o3|o4)/.test(name)) return "o200k_base"
  if (/^(gpt-4|gpt-3\.5|text-embedding-|davinci-002|babbage-002)/.test(name)) return "cl100k_base"
  return undefined
}

/**
 * OpenAI's tokenizers, loaded on first use (gpt-tokenizer: ~0.5 s per encoding, so never on the
 * request path).
 *
 * @internal
 */
export const load: Effect.Effect<TokenCounter> = Effect.promise(async (): Promise<TokenCounter> => {
  const [o200k, cl100k] = await Promise.all([
    import("gpt-tokenizer/encoding/o200k_base"),
    import("gpt-tokenizer/encoding/cl100k_base")
  ])
  const count = { o200k_base: o200k.countTokens, cl100k_base: cl100k.countTokens }
  return {
    requestTokens: (request, averageCompletion) => {
      const encoding = encodingOf(request.request.model)
      const tokenize = encoding === undefined ? undefined : (text: string) => count[encoding](text)
      if (request._tag === "Embedding") {
        return {
          prompt: tokenize === undefined
            ? tokenEstimate.embeddingTokens(request.request)
            : tokenEstimate.embeddingTokensWith(request.request, tokenize),
          output: 0,
          tokenized: tokenize !== undefined
        }
      }
      return {
        prompt: tokenize === undefined
          ? tokenEstimate.chatPromptTokens(request.request)
          : tokenEstimate.chatPromptTokensWith(request.request, tokenize),
        output: tokenEstimate.chatCompletionTokens(request.request, averageCompletion),
        tokenized: tokenize !== undefined
      }
    }
  }
}).pipe(Effect.cached, Effect.runSync)
