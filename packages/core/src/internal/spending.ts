import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ApiRequest from "../ApiRequest.js"
import * as Cost from "../Cost.js"
import { BudgetExceededError, type ProviderError } from "../LLMError.js"
import type * as Provider from "../Provider.js"
import * as TokenStats from "../TokenStats.js"
import { SpendLimit } from "./spendLimit.js"
import * as tokenEstimate from "./tokenEstimate.js"

/**
 * Cost of answers and the `maxCost` budget: what each answer cost, and whether a call may start.
 *
 * @internal
 */
export interface Spending {
  /** US dollars an answer cost; undefined when its model has no price or it reports no usage. */
  readonly costOf: (request: ApiRequest.ApiRequest, response: ApiRequest.ApiResponse) => number | undefined
  /**
   * Runs one call under the budget: reserves its estimate first (or fails with
   * `BudgetExceededError`), settles with the real cost when the call ends. Undefined without a
   * budget, so that runs without one pay nothing for it.
   */
  readonly guard:
    | (<A, E, R>(
      request: ApiRequest.ApiRequest,
      call: Effect.Effect<{ readonly reply: Either.Either<Provider.Reply<ApiRequest.ApiResponse>, ProviderError> } & A, E, R>
    ) => Effect.Effect<{ readonly reply: Either.Either<Provider.Reply<ApiRequest.ApiResponse>, ProviderError> } & A, E | BudgetExceededError, R>)
    | undefined
  /** The budget's state, for stats; undefined without a budget. */
  readonly budget: SpendLimit | undefined
}

/** @internal */
export const make = (options: { readonly prices?: Cost.Prices | undefined; readonly maxCost?: number | undefined }): Spending => {
  const prices = options.prices
  const costOf = (request: ApiRequest.ApiRequest, response: ApiRequest.ApiResponse): number | undefined => {
    const usage = response.response.usage
    if (usage == null) return undefined
    const tokens = TokenStats.fromUsage(usage)
    const requested = ApiRequest.model(request)
    // Your price for the model you asked for first; then the table, by the model that answered
    // (dated names like gpt-4o-mini-2024-07-18 price exactly), then by the one asked for.
    if (prices?.[requested] !== undefined) return Cost.ofTokens(requested, tokens, { prices })
    return Cost.ofTokens(response.response.model, tokens, { prices }) ?? Cost.ofTokens(requested, tokens, { prices })
  }
  if (options.maxCost === undefined) return { costOf, guard: undefined, budget: undefined }

  const limit = new SpendLimit(options.maxCost)
  // Completion tokens assumed for a request without max_tokens: the running average of answers.
  let completions = 0
  let answers = 0
  const averageCompletion = () => answers === 0 ? tokenEstimate.defaultCompletionTokens : completions / answers

  const estimateOf = (request: ApiRequest.ApiRequest): number | undefined => {
    const model = ApiRequest.model(request)
    const tokens = request._tag === "Chat"
      ? {
        ...TokenStats.empty,
        promptTokens: tokenEstimate.chatPromptTokens(request.request),
        completionTokens: tokenEstimate.chatCompletionTokens(request.request, averageCompletion())
      }
      : { ...TokenStats.empty, promptTokens: tokenEstimate.embeddingTokens(request.request) }
    return Cost.ofTokens(model, tokens, { prices })
  }

  const guard: Spending["guard"] = <A, E, R>(
    request: ApiRequest.ApiRequest,
    call: Effect.Effect<{ readonly reply: Either.Either<Provider.Reply<ApiRequest.ApiResponse>, ProviderError> } & A, E, R>
  ) =>
    Effect.suspend((): Effect.Effect<
      { readonly reply: Either.Either<Provider.Reply<ApiRequest.ApiResponse>, ProviderError> } & A,
      E | BudgetExceededError,
      R
    > => {
      const estimate = estimateOf(request)
      if (estimate === undefined) {
        return Effect.fail(
          new BudgetExceededError({ maxCost: limit.maxCost, committed: limit.spent + limit.reserved, unpricedModel: ApiRequest.model(request) })
        )
      }
      if (!limit.tryReserve(estimate)) {
        return Effect.fail(new BudgetExceededError({ maxCost: limit.maxCost, committed: limit.spent + limit.reserved }))
      }
      let settled = false
      const settle = (actual: number) => {
        if (settled) return
        settled = true
        limit.settle(estimate, actual)
      }
      return call.pipe(
        Effect.tap(({ reply }) =>
          Effect.sync(() => {
            if (Either.isLeft(reply)) return settle(0)
            const usage = reply.right.response.response.usage
            if (usage != null) {
              completions += "completion_tokens" in usage ? usage.completion_tokens ?? 0 : 0
              answers++
            }
            // An answer without usage is charged its estimate: never less than it may have cost.
            settle(costOf(request, reply.right.response) ?? estimate)
          })
        ),
        Effect.onExit(() => Effect.sync(() => settle(0)))
      )
    })

  return { costOf, guard, budget: limit }
}
