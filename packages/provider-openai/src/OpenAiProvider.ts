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
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/provider.js"
import * as OpenAiConfig from "./OpenAiConfig.js"
import * as UndiciHttpClient from "./UndiciHttpClient.js"

/**
 * The default base URL, `https://api.openai.com/v1`.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultBaseUrl: string = internal.defaultBaseUrl

/**
 * The provider name (the cache-key namespace) a provider at `baseUrl` gets when no `name` is
 * given: `openai` for OpenAI's API, `openai-compatible:HOST/PATH` otherwise.
 *
 * @since 0.2.0
 * @category constants
 */
export const nameFor: (baseUrl: string) => string = internal.providerName

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
  /**
   * Extra headers sent with every request (e.g. OpenRouter's `HTTP-Referer`, a gateway's own key).
   * A `Redacted` value is treated like the key: sent, but never in errors, logs or cache keys.
   */
  readonly headers?: Readonly<Record<string, string | Redacted.Redacted>> | undefined
  /**
   * Azure OpenAI: the key goes in an `api-key` header instead of `Authorization: Bearer`, and with
   * `apiVersion` every request goes to `{baseUrl}/deployments/{model}/...?api-version=...`.
   * `baseUrl` is then `https://{resource}.openai.azure.com/openai` (or `.../openai/v1` with no
   * `apiVersion`). Set from `AZURE_OPENAI_*` by {@link layerConfig}.
   *
   * @since 0.2.0
   */
  readonly azure?: OpenAiConfig.Azure | undefined
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
 * own keep-alive `Agent`, closed with the layer. `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` are
 * honoured (the `proxy` option says otherwise).
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
      UndiciHttpClient.makeDispatcher({
        connections: options.connections,
        keepAliveTimeout: options.keepAliveTimeout,
        proxy: options.proxy
      }),
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

/**
 * Options that still need a key: the key may be absent only for a base URL other than OpenAI's.
 */
const requireKey = <A extends Options>(options: A): Either.Either<A, ConfigError.ConfigError> =>
  options.apiKey === undefined && (options.baseUrl ?? internal.defaultBaseUrl).replace(/\/+$/, "") === internal.defaultBaseUrl
    ? Either.left(internal.missingKey)
    : Either.right(options)

/**
 * The provider's settings from the environment, read by {@link OpenAiConfig.settings}:
 * `OPENAI_API_KEY` (redacted), `OPENAI_BASE_URL` (default `https://api.openai.com/v1`),
 * `OPENAI_ORG_ID`, `OPENAI_PROJECT_ID`, `OPENAI_TIMEOUT` (a duration such as `"60 seconds"`), and
 * for Azure OpenAI `AZURE_OPENAI_API_KEY`, `AZURE_OPENAI_ENDPOINT` and `OPENAI_API_VERSION`. The
 * key may be absent only for a base URL other than OpenAI's (local servers).
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = OpenAiConfig.settings.pipe(
  Config.mapOrFail(requireKey)
)

// `Config.unwrap({})` throws in effect 3.22 (it reads the first entry of an empty struct)
const unwrapOptions = (options: Config.Config.Wrap<LayerOptions>): Config.Config<LayerOptions> =>
  Config.isConfig(options) || Object.keys(options).length > 0 ? Config.unwrap(options) : Config.succeed({})

/**
 * {@link layer} with its options read from `Config`: each option you give is a `Config`
 * (`Config.Config.Wrap`, as in `DiskCache.layerConfig` and Effect's `OpenAiClient.layerConfig`),
 * and every option you leave out comes from the environment as {@link config} reads it.
 * `layerConfig()` reads everything from the environment.
 *
 * @since 0.1.0
 * @category layers
 * @example
 * ```ts
 * import { Cache, RequestManager } from "@fastllm/core"
 * import { OpenAiProvider } from "@fastllm/provider-openai"
 * import * as Config from "effect/Config"
 * import * as Layer from "effect/Layer"
 *
 * // OPENAI_API_KEY=sk-... (and optionally OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID)
 * const MainLayer = RequestManager.layer({ concurrency: 200 }).pipe(
 *   Layer.provide(OpenAiProvider.layerConfig({
 *     connections: Config.integer("CONNECTIONS").pipe(Config.withDefault(200)),
 *     headers: Config.succeed({ "HTTP-Referer": "https://example.com" })
 *   })),
 *   Layer.provide(Cache.memory())
 * )
 * ```
 */
export const layerConfig = (
  options: Config.Config.Wrap<LayerOptions> = {}
): Layer.Layer<Provider.Provider, ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(
      Config.all([OpenAiConfig.settings, unwrapOptions(options)]).pipe(
        Config.mapOrFail(([fromEnv, given]) => requireKey({ ...fromEnv, ...given }))
      ),
      layer
    )
  )
