import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Tracer from "effect/Tracer"
import type * as ApiRequest from "../ApiRequest.js"
import type { ItemResult } from "../ItemResult.js"
import type { ProviderError } from "../LLMError.js"
import type * as Provider from "../Provider.js"

/**
 * Spans for a batch, each item and each provider attempt, with the OpenTelemetry GenAI semantic
 * conventions (`gen_ai.*`). Request and answer text only with `content: true`; never a key or a
 * header (the spans see request bodies and results, which hold none).
 *
 * With no tracer installed (Effect's built-in one, which exports nothing) no span is made at all:
 * `Effect.withSpan` on the built-in tracer still allocates a span, its attributes and a context
 * per call, so the check below keeps the untraced hot path as it was (bench/overhead.ts, run
 * side by side with and without a tracer).
 *
 * @internal
 */
export interface Tracing {
  /** Whether spans are made here and now (a tracer is installed and tracing is on). */
  readonly enabled: Effect.Effect<boolean>
  /** {@link enabled} for the fiber's `tracer`, on the spot (for a caller that has the tracer at hand). */
  readonly traced: (tracer: Tracer.Tracer) => boolean
  readonly batch: <A, E, R>(items: number | undefined, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  readonly item: (request: ApiRequest.ApiRequest, effect: Effect.Effect<ItemResult>) => Effect.Effect<ItemResult>
  readonly attempt: <E, R>(
    request: ApiRequest.ApiRequest,
    effect: Effect.Effect<Either.Either<Provider.Reply<ApiRequest.ApiResponse>, ProviderError>, E, R>
  ) => Effect.Effect<Either.Either<Provider.Reply<ApiRequest.ApiResponse>, ProviderError>, E, R>
}

/** Options of the RequestManager's tracing. @internal */
export interface Options {
  /** Record the request's messages and the answer's content as span attributes. Default false. */
  readonly content?: boolean | undefined
}

/** Effect's built-in tracer: installed when nobody installed another. */
const builtInTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

const whenTraced = <A, E, R>(effect: Effect.Effect<A, E, R>, traced: () => Effect.Effect<A, E, R>) =>
  Effect.tracerWith((tracer) => tracer === builtInTracer ? effect : traced())

const operation = (request: ApiRequest.ApiRequest) => request._tag === "Chat" ? "chat" : "embeddings"

const requestAttributes = (request: ApiRequest.ApiRequest, content: boolean): Record<string, unknown> => {
  const attributes: Record<string, unknown> = {
    "gen_ai.operation.name": operation(request),
    "gen_ai.request.model": request.request.model
  }
  if (request._tag === "Chat") {
    const body = request.request
    const maxTokens = body.max_completion_tokens ?? body.max_tokens
    if (maxTokens !== undefined) attributes["gen_ai.request.max_tokens"] = maxTokens
    if (body.temperature != null) attributes["gen_ai.request.temperature"] = body.temperature
    if (body.top_p != null) attributes["gen_ai.request.top_p"] = body.top_p
    if (body.seed != null) attributes["gen_ai.request.seed"] = body.seed
    if (body.n != null) attributes["gen_ai.request.choice.count"] = body.n
    if (content) attributes["gen_ai.input.messages"] = JSON.stringify(body.messages)
  }
  return attributes
}

const responseAttributes = (response: ApiRequest.ApiResponse, content: boolean): Record<string, unknown> => {
  const body = response.response
  const attributes: Record<string, unknown> = { "gen_ai.response.model": body.model }
  if (body.usage != null) {
    attributes["gen_ai.usage.input_tokens"] = body.usage.prompt_tokens
    if ("completion_tokens" in body.usage && body.usage.completion_tokens !== undefined) {
      attributes["gen_ai.usage.output_tokens"] = body.usage.completion_tokens
    }
  }
  if (response._tag === "Chat") {
    attributes["gen_ai.response.id"] = response.response.id
    attributes["gen_ai.response.finish_reasons"] = response.response.choices.map((choice) => choice.finish_reason ?? "")
    if (content) {
      attributes["gen_ai.output.messages"] = JSON.stringify(response.response.choices.map((choice) => choice.message))
    }
  }
  return attributes
}

const resultAttributes = (result: ItemResult, content: boolean): Record<string, unknown> => {
  const attributes: Record<string, unknown> = { "fastllm.attempts": result.attempts }
  if (result.key !== undefined) attributes["fastllm.request.key"] = result.key
  if (result._tag === "Failure") {
    attributes["error.type"] = result.error._tag
    return attributes
  }
  attributes["fastllm.cache_hit"] = result.fromCache
  attributes["fastllm.deduplicated"] = result.deduplicated
  attributes["fastllm.retries"] = Math.max(0, result.attempts - 1)
  if (result.cost !== undefined) attributes["fastllm.cost_usd"] = result.cost
  return {
    ...attributes,
    ...responseAttributes(result.kind === "chat"
      ? { _tag: "Chat", response: result.response }
      : { _tag: "Embedding", response: result.response }, content)
  }
}

/** No spans at all (`tracing: false`). @internal */
export const none: Tracing = {
  enabled: Effect.succeed(false),
  traced: () => false,
  batch: (_, effect) => effect,
  item: (_, effect) => effect,
  attempt: (_, effect) => effect
}

/** @internal */
export const make = (options: Options = {}): Tracing => {
  const content = options.content === true
  return {
    enabled: Effect.tracerWith((tracer) => Effect.succeed(tracer !== builtInTracer)),
    traced: (tracer) => tracer !== builtInTracer,
    batch: (items, effect) =>
      whenTraced(effect, () =>
        Effect.withSpan(effect, "fastllm.batch", {
          attributes: items === undefined ? {} : { "fastllm.batch.items": items }
        })),
    item: (request, effect) =>
      whenTraced(effect, () =>
        Effect.withSpan(
          Effect.tap(effect, (result) => Effect.annotateCurrentSpan(resultAttributes(result, content))),
          `fastllm.item ${request.request.model}`,
          { attributes: requestAttributes(request, content) }
        )),
    attempt: (request, effect) =>
      whenTraced(effect, () =>
        Effect.withSpan(
          Effect.tap(effect, (reply) =>
            Effect.annotateCurrentSpan(
              Either.isLeft(reply)
                ? { "error.type": reply.left._tag }
                : responseAttributes(reply.right.response, content)
            )),
          `${operation(request)} ${request.request.model}`,
          { kind: "client", attributes: requestAttributes(request, false) }
        ))
  }
}
