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
  // two object literals, not a shared `common` object spread into each: the spread cost ~7 µs per
  // item on a loaded machine against well under 0.1 µs for a literal (`npx tsx bench/lib/libSteps.ts
  // --base 4fb4378 --only hit`); same fields, same order
  const tokens = TokenStats.fromUsage(answer.response.response.usage)
  const cost = answer.fromCache || shared ? 0 : answer.cost
  return answer.response._tag === "Chat"
    ? {
      _tag: "Success",
      index,
      key,
      attempts,
      fromCache: answer.fromCache,
      deduplicated: shared,
      tokens,
      cost,
      kind: "chat",
      response: answer.response.response
    }
    : {
      _tag: "Success",
      index,
      key,
      attempts,
      fromCache: answer.fromCache,
      deduplicated: shared,
      tokens,
      cost,
      kind: "embedding",
      response: answer.response.response
    }
}

/**
 * About how many bytes an item result holds in memory (for the ordered-output buffer's bound):
 * the texts of a chat response, the vectors of an embeddings response, plus a fixed overhead.
 * An estimate, cheap on purpose: it runs once per item.
 *
 * @internal
 */
export const resultBytes = (result: ItemResult): number => {
  if (result._tag === "Failure") return 512
  if (result.kind === "embedding") {
    let n = 512
    for (const item of result.response.data) n += typeof item.embedding === "string" ? item.embedding.length * 2 : item.embedding.length * 8
    return n
  }
  let n = 1024
  for (const choice of result.response.choices) {
    const content = choice.message.content
    n += typeof content === "string" ? content.length * 2 : 256
  }
  return n
}
