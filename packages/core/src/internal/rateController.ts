import * as Effect from "effect/Effect"
import type { ApiRequest, ApiResponse } from "../ApiRequest.js"
import type { ProviderError, RateLimitError } from "../LLMError.js"
import type { RateLimitInfo } from "../RateLimitHeaders.js"

/**
 * What the RequestManager asks of rate limiting, once per provider attempt.
 *
 * @internal
 */
export interface RateController {
  /** The tokens this request is expected to consume (prompt estimate + max output). */
  readonly estimate: (request: ApiRequest) => number
  /**
   * Waits until the request may be sent: the shared 429 gate, then the request and token budgets.
   * Fails fast with a quota `RateLimitError` once the account is out of quota.
   */
  readonly acquire: (estimatedTokens: number) => Effect.Effect<void, RateLimitError>
  /** After a response: learn from its headers, and correct the token budget with real usage. */
  readonly onReply: (
    estimatedTokens: number,
    response: ApiResponse,
    info: RateLimitInfo | undefined
  ) => Effect.Effect<void>
  /** After a failed attempt: a 429 pauses the whole batch; insufficient quota stops sending. */
  readonly onError: (estimatedTokens: number, error: ProviderError) => Effect.Effect<void>
  /** For stats and progress. */
  readonly snapshot: () => {
    readonly rateLimited: number
    readonly waitMillis: number
    readonly requestsPerMinute: number | undefined
    readonly tokensPerMinute: number | undefined
  }
}

/**
 * No limits: counts 429s, nothing else.
 *
 * @internal
 */
export const unlimited = (): RateController => {
  let rateLimited = 0
  return {
    estimate: () => 0,
    acquire: () => Effect.void,
    onReply: () => Effect.void,
    onError: (_, error) =>
      Effect.sync(() => {
        if (error._tag === "RateLimitError") rateLimited++
      }),
    snapshot: () => ({ rateLimited, waitMillis: 0, requestsPerMinute: undefined, tokensPerMinute: undefined })
  }
}
