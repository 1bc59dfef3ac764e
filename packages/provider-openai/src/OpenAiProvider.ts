/**
 * The OpenAI-compatible `Provider`: chat completions (`POST {baseUrl}/chat/completions`) and
 * embeddings (`POST {baseUrl}/embeddings`) over `@effect/platform`'s `HttpClient`, for OpenAI and
 * compatible servers (vLLM, Ollama, OpenRouter, LM Studio, ...).
 *
 * One call is one attempt: retries, the batch's rate limits and caching belong to the
 * RequestManager. Every failure is one of the core's typed errors:
 *
 * | what happened                                  | error                                          |
 * | ---------------------------------------------- | ---------------------------------------------- |
 * | 429                                            | `RateLimitError` (`requests` or `tokens`, with `retryAfter`) |
 * | 429 with `insufficient_quota`                  | `RateLimitError` kind `quota` (not retryable)  |
 * | 408, 409, 5xx                                  | `ApiError`, retryable                          |
 * | other 4xx (400, 401, 403, 404, 422, ...)       | `ApiError` with OpenAI's type/code/param, not retryable |
 * | connection refused or reset before a response  | `TransportError`                               |
 * | the provider's own `timeout` elapsed           | `TimeoutError`                                 |
 * | 200 with a body that is not JSON, or cut off   | `DecodeError`, retryable                       |
 * | 200 with JSON that is not a response           | `DecodeError`, not retryable                   |
 *
 * The rate-limit headers (`x-ratelimit-*`) of every successful response come back in
 * `Reply.rateLimit` for the RequestManager to pace itself by. The API key is sent as a bearer token
 * and never appears in errors, logs, spans or the provider's name (which goes into cache keys).
 *
 * ## Connections and concurrency
 *
 * The RequestManager's `concurrency` bounds how many requests are in flight. The default
 * transport's pool (`connections`) is uncapped, so it grows to exactly that many keep-alive
 * connections and never becomes a hidden, lower limit (the Python original silently capped at 100).
 * Setting `connections` caps the sockets: below `concurrency`, the extra requests queue inside
 * undici and the effective concurrency is `connections`.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import { Provider } from "@fastllm/core"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/provider.js"
import * as UndiciHttpClient from "./UndiciHttpClient.js"

/**
 * The default base URL, `https://api.openai.com/v1`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl: string = internal.defaultBaseUrl

/**
 * Options of the provider.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The API key, sent as `Authorization: Bearer ...`. Optional: local servers often need none. */
  readonly apiKey?: Redacted.Redacted | undefined
  /** Base URL including the version path. Default `https://api.openai.com/v1`. */
  readonly baseUrl?: string | undefined
  /** Sent as `OpenAI-Organization`. */
  readonly organization?: string | undefined
  /** Sent as `OpenAI-Project`. */
  readonly project?: string | undefined
  /** Extra headers sent with every request (e.g. OpenRouter's `HTTP-Referer`). */
  readonly headers?: Readonly<Record<string, string>> | undefined
  /**
   * Timeout of each call (`TimeoutError`). Default: none here; the RequestManager's per-attempt
   * `timeout` applies on top either way.
   */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * The provider's name in request keys. Default `"openai"` for the default base URL, else
   * `"openai-compatible:<host><path>"` so that answers from different servers never share a key.
   */
  readonly name?: string | undefined
  /**
   * Let the `HttpClient` make an `http.client` span per request (headers redacted). Default false:
   * at thousands of requests per second a span each costs about a quarter of the CPU. Only clients
   * that make spans (platform's) are affected; the lean default transport makes none.
   */
  readonly spans?: boolean | undefined
}

/**
 * Options of the layers that bring their own transport: the provider's options plus the pool's.
 *
 * @since 0.1.0
 * @category models
 */
export interface LayerOptions extends Options, UndiciHttpClient.Options {}

/**
 * Builds the provider over the `HttpClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<Provider.Provider.Service, never, HttpClient.HttpClient> = (
  options = {}
) => internal.make(options)

/**
 * The provider over the given `HttpClient`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeWith: (httpClient: HttpClient.HttpClient, options?: Options) => Provider.Provider.Service = (
  httpClient,
  options = {}
) => internal.makeWith(httpClient, options)

/**
 * The provider with its default transport: the lean undici client (`UndiciHttpClient`) over its
 * own keep-alive `Agent`, closed with the layer.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * ```ts
 * import { OpenAiProvider } from "@fastllm/provider-openai"
 * import * as Redacted from "effect/Redacted"
 *
 * const ProviderLive = OpenAiProvider.layer({
 *   apiKey: Redacted.make("sk-..."),
 *   baseUrl: "http://127.0.0.1:8000/v1" // e.g. a local vLLM server
 * })
 * ```
 */
export const layer = (options: LayerOptions = {}): Layer.Layer<Provider.Provider> =>
  Layer.scoped(
    Provider.Provider,
    Effect.map(
      UndiciHttpClient.makeAgent({ connections: options.connections, keepAliveTimeout: options.keepAliveTimeout }),
      (agent) => internal.makeWith(UndiciHttpClient.make(agent), options)
    )
  )

/**
 * The provider over the `HttpClient` you provide (any transport: `NodeHttpClient.layerUndici`,
 * `FetchHttpClient.layer`, a client with your own middleware).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithHttpClient = (options: Options = {}): Layer.Layer<Provider.Provider, never, HttpClient.HttpClient> =>
  Layer.effect(Provider.Provider, internal.make(options))

const optionalString = (name: string): Config.Config<string | undefined> =>
  Config.string(name).pipe(
    Config.option,
    Config.map((value) => Option.getOrUndefined(Option.filter(value, (text) => text.trim() !== "")))
  )

/**
 * The provider's settings from the environment: `OPENAI_API_KEY` (redacted), `OPENAI_BASE_URL`
 * (default `https://api.openai.com/v1`), `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID` and `OPENAI_TIMEOUT`
 * (a duration such as `"60 seconds"`). The key may be absent only for a base URL other than
 * OpenAI's (local servers).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  apiKey: Config.redacted("OPENAI_API_KEY").pipe(Config.option),
  baseUrl: optionalString("OPENAI_BASE_URL"),
  organization: optionalString("OPENAI_ORG_ID"),
  project: optionalString("OPENAI_PROJECT_ID"),
  timeout: Config.duration("OPENAI_TIMEOUT").pipe(Config.option)
}).pipe(
  Config.mapOrFail(({ apiKey, baseUrl, organization, project, timeout }) => {
    const key = Option.filter(apiKey, (redacted) => internal.redactedNonEmpty(redacted))
    const resolvedBaseUrl = baseUrl ?? internal.defaultBaseUrl
    if (Option.isNone(key) && resolvedBaseUrl.replace(/\/+$/, "") === internal.defaultBaseUrl) {
      return Either.left(internal.missingKey)
    }
    const options: {
      -readonly [K in keyof Options]: Options[K]
    } = { baseUrl: resolvedBaseUrl }
    if (Option.isSome(key)) options.apiKey = key.value
    if (organization !== undefined) options.organization = organization
    if (project !== undefined) options.project = project
    if (Option.isSome(timeout)) options.timeout = timeout.value
    return Either.right(options)
  })
)

/**
 * {@link layer} with its settings read from {@link config} (the environment by default); the
 * `overrides` (extra headers, pool size, name, ...) win over what the environment says.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * ```ts
 * import { Cache, RequestManager } from "@fastllm/core"
 * import { OpenAiProvider } from "@fastllm/provider-openai"
 * import * as Layer from "effect/Layer"
 *
 * // OPENAI_API_KEY=sk-... (and optionally OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID)
 * const MainLayer = RequestManager.layer({ concurrency: 200 }).pipe(
 *   Layer.provide(OpenAiProvider.layerConfig()),
 *   Layer.provide(Cache.memory())
 * )
 * ```
 */
export const layerConfig = (overrides: LayerOptions = {}): Layer.Layer<Provider.Provider, ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(config, (fromEnv) =>
    layer({
      ...overrides,
      apiKey: overrides.apiKey ?? fromEnv.apiKey,
      baseUrl: overrides.baseUrl ?? fromEnv.baseUrl,
      organization: overrides.organization ?? fromEnv.organization,
      project: overrides.project ?? fromEnv.project,
      timeout: overrides.timeout ?? fromEnv.timeout
    })))
