/**
 * OpenAI's Batch API as a `BatchExecutor`: `POST /v1/files` (purpose `batch`, multipart),
 * `POST /v1/batches` (completion window `24h`), `GET /v1/batches/{id}`, `GET /v1/files/{id}/content`
 * for the output and error files, `POST /v1/batches/{id}/cancel` and `GET /v1/batches`. Half the
 * online price, answers within 24 hours. The key is sent as a bearer token and never appears in
 * errors, logs or the executor's name (which goes into cache keys: the same name as
 * `OpenAiProvider`'s for the same base URL, so both modes share their cache entries).
 *
 * @since 0.2.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import { BatchExecutor } from "@fastllm/core"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/batch.js"
import * as OpenAiProvider from "./OpenAiProvider.js"
import * as UndiciHttpClient from "./UndiciHttpClient.js"

/**
 * Options of the executor.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  readonly apiKey?: Redacted.Redacted | undefined
  /** Base URL including `/v1`. Default `https://api.openai.com/v1`. */
  readonly baseUrl?: string | undefined
  readonly organization?: string | undefined
  readonly project?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
  /** The name in request keys. Default: as `OpenAiProvider` names the same base URL. */
  readonly name?: string | undefined
  /** Most requests per batch file. Default 50,000 (OpenAI's limit). */
  readonly maxRequests?: number | undefined
  /** Largest batch file in bytes. Default 200 MB (OpenAI's limit). */
  readonly maxBytes?: number | undefined
}

/**
 * The executor over the given `HttpClient`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeWith: (httpClient: HttpClient.HttpClient, options?: Options) => BatchExecutor.BatchExecutor.Service = (
  httpClient,
  options = {}
) => internal.makeWith(httpClient, options)

/**
 * The executor over the `HttpClient` in context.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: Options = {}): Effect.Effect<BatchExecutor.BatchExecutor.Service, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => makeWith(client, options))

/**
 * The executor with the lean undici transport, closed with the layer.
 *
 * @since 0.2.0
 * @category layers
 * @example
 * ```ts
 * import { BatchJob, Cache } from "@fastllm/core"
 * import { OpenAiBatch } from "@fastllm/provider-openai"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as Redacted from "effect/Redacted"
 *
 * const BatchLive = Layer.merge(OpenAiBatch.layer({ apiKey: Redacted.make("sk-...") }), Cache.memory())
 * const program = BatchJob.run([{ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] }])
 * Effect.runPromise(program.pipe(Effect.provide(BatchLive)))
 * ```
 */
export const layer = (options: Options = {}): Layer.Layer<BatchExecutor.BatchExecutor> =>
  Layer.scoped(
    BatchExecutor.BatchExecutor,
    Effect.map(UndiciHttpClient.makeAgent({ connections: 8 }), (agent) => makeWith(UndiciHttpClient.make(agent), options))
  )

/**
 * {@link layer} with key, base URL, organization and project from the environment (as
 * `OpenAiProvider.config` reads them); `overrides` win.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerConfig = (overrides: Options = {}): Layer.Layer<BatchExecutor.BatchExecutor, ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(OpenAiProvider.config, (fromEnv) =>
    layer({
      ...overrides,
      apiKey: overrides.apiKey ?? fromEnv.apiKey,
      baseUrl: overrides.baseUrl ?? fromEnv.baseUrl,
      organization: overrides.organization ?? fromEnv.organization,
      project: overrides.project ?? fromEnv.project
    })))
