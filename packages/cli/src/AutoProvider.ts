/**
 * Picks the provider the way the CLI and the examples do: OpenAI (or any OpenAI-compatible server)
 * when an API key or a base URL is given, else the built-in local test server from
 * `@fastllm/testing`, started on 127.0.0.1 for the layer's lifetime and announced in one line, so
 * that everything runs on a fresh machine with no account.
 *
 * @since 0.1.0
 */
import type { Provider } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/**
 * The provider name (hence cache-key namespace) of the built-in server's answers: fixed, so that a
 * rerun on a new port still hits the cache, and distinct from every real server's, so that
 * simulated answers never answer a real run.
 *
 * @since 0.1.0
 * @category constants
 */
export const localServerName = "fastllm-local-server"

/**
 * The built-in server's default behaviour: answers in 30 to 250 ms, like a fast real API, so that
 * progress and concurrency are visible; no limits, no faults.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultLocalServer: TestServer.Options = { latency: { minMs: 30, maxMs: 250 } }

/**
 * Options of {@link layer}.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly apiKey?: Redacted.Redacted | undefined
  /** OpenAI-compatible base URL including `/v1`. */
  readonly baseUrl?: string | undefined
  /** HTTP connections in the pool. */
  readonly connections?: number | undefined
  /** Where the one-line notice about the built-in server goes. Default: stderr. */
  readonly announce?: ((line: string) => void) | undefined
  /** Options of the built-in server (latency, limits, faults). Default {@link defaultLocalServer}. */
  readonly localServer?: TestServer.Options | undefined
}

/**
 * The provider: OpenAI-compatible at `baseUrl` (default OpenAI's) when `apiKey` or `baseUrl` is
 * set, otherwise the built-in local server.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Provider.Provider> => {
  const announce = options.announce ?? ((line: string) => void process.stderr.write(line + "\n"))
  const pool = options.connections === undefined ? {} : { connections: options.connections }
  if (options.apiKey !== undefined || options.baseUrl !== undefined) {
    return OpenAiProvider.layer({
      ...pool,
      ...(options.apiKey === undefined ? {} : { apiKey: options.apiKey }),
      ...(options.baseUrl === undefined ? {} : { baseUrl: options.baseUrl })
    })
  }
  return Layer.unwrapScoped(Effect.gen(function*() {
    const serverOptions = options.localServer ?? defaultLocalServer
    const server = yield* TestServer.make(serverOptions)
    announce(
      `fastllm: no OPENAI_API_KEY or base URL set: using the built-in local test server at ${server.url} ` +
        "(simulated answers, nothing leaves this machine)"
    )
    return OpenAiProvider.layer({
      ...pool,
      apiKey: Redacted.make(serverOptions.apiKey ?? "fastllm-local"),
      baseUrl: server.url,
      name: localServerName
    })
  }))
}

/**
 * {@link layer} with the key and base URL from `OPENAI_API_KEY` and `OPENAI_BASE_URL`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Omit<Options, "apiKey" | "baseUrl"> = {}): Layer.Layer<Provider.Provider> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const apiKey = yield* Config.option(Config.redacted(Config.nonEmptyString("OPENAI_API_KEY"))).pipe(
      Effect.orElseSucceed(Option.none)
    )
    const baseUrl = yield* Config.option(Config.nonEmptyString("OPENAI_BASE_URL")).pipe(
      Effect.orElseSucceed(Option.none)
    )
    return layer({ ...options, apiKey: Option.getOrUndefined(apiKey), baseUrl: Option.getOrUndefined(baseUrl) })
  }))
