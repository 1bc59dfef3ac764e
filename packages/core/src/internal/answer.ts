import type * as ApiRequest from "../ApiRequest.js"
import type { ItemResult } from "../ItemResult.js"
import type { ProviderError } from "../LLMError.js"
import * as TokenStats from "../TokenStats.js"

/**
 * What computing one request key gave (from the cache or the provider), before it becomes an item's
 * result: several items can share one answer (single-flight).
 *
 * @internal
 */
export type Answer =
  | {
    readonly _tag: "Success"
    readonly response: ApiRequest.ApiResponse
    readonly fromCache: boolean
    readonly attempts: number
    /** What the provider's answer cost (US dollars; undefined: no price); absent for cache hits. */
    readonly cost?: number | undefined
  }
  | { readonly _tag: "Failure"; readonly error: ProviderError; readonly attempts: number }

/** The result of the item at `index` answered by `answer` (`shared`: computed for another item). @internal */
export const toResult = (
  index: number,
  key: string,
  kind: ApiRequest.Kind,
  answer: Answer,
  shared: boolean
): ItemResult => {
  const attempts = shared ? 0 : answer.attempts
  if (answer._tag === "Failure") {
    return { _tag: "Failure", index, key, kind, error: answer.error, attempts }
  }
  const common = {
    _tag: "Success",
    index,
    key,
    attempts,
    fromCache: answer.fromCache,
    deduplicated: shared,
    tokens: TokenStats.fromUsage(answer.response.response.usage),
    cost: answer.fromCache || shared ? 0 : answer.cost
  } as const
  return answer.response._tag === "Chat"
    ? { ...common, kind: "chat", response: answer.response.response }
    : { ...common, kind: "embedding", response: answer.response.response }
}
