/**
 * Picks the provider the way the CLI and the examples do: OpenAI (or any OpenAI-compatible server)
 * when an API key or a base URL is given, else the built-in local test server from
 * `@fastllm/testing`, started on 127.0.0.1 for the layer's lifetime and announced in one line, so
 * that everything runs on a fresh machine with no account.
 *
 * @since 0.1.0
 */
import type { Provider } from "@fastllm/core"
import type { OpenAiProvider } from "@fastllm/provider-openai"
import * as OpenAiConfig from "@fastllm/provider-openai/OpenAiConfig"
import type { TestServer } from "@fastllm/testing"
import type * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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
 * Options of {@link layer}: the OpenAI provider's (key, base URL, headers, Azure, pool, ...) plus
 * the built-in server's.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options extends OpenAiProvider.LayerOptions {
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
  const { announce: announceOption, localServer, ...providerOptions } = options
  const announce = announceOption ?? ((line: string) => void process.stderr.write(line + "\n"))
  // The provider (undici) and the test server are imported when the layer is built, not when this
  // module loads: `fastllm --help` and the other commands never pay for them (`npx tsx bench/startup.ts`).
  const loadProvider = Effect.promise(() => import("@fastllm/provider-openai/OpenAiProvider"))
  if (options.apiKey !== undefined || options.baseUrl !== undefined) {
    return Layer.unwrapEffect(Effect.map(loadProvider, (OpenAiProvider) => OpenAiProvider.layer(providerOptions)))
  }
  return Layer.unwrapScoped(Effect.gen(function*() {
    const serverOptions = localServer ?? defaultLocalServer
    const [TestServer, OpenAiProvider] = yield* Effect.all([
      Effect.promise(() => import("@fastllm/testing/TestServer")),
      loadProvider
    ])
    const server = yield* TestServer.make(serverOptions)
    announce(
      `fastllm: no OPENAI_API_KEY or base URL set: using the built-in local test server at ${server.url} ` +
        "(simulated answers, nothing leaves this machine)"
    )
    return OpenAiProvider.layer({
      ...providerOptions,
      azure: undefined,
      apiKey: Redacted.make(serverOptions.apiKey ?? "fastllm-local"),
      baseUrl: server.url,
      name: localServerName
    })
  }))
}

/**
 * {@link layer} with the provider's settings from the environment (`OPENAI_API_KEY`,
 * `OPENAI_BASE_URL`, Azure's variables, ...: `OpenAiConfig.settings`, the one reader); a
 * malformed variable is a `ConfigError`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Omit<Options, "apiKey" | "baseUrl"> = {}
): Layer.Layer<Provider.Provider, ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(OpenAiConfig.settings, (settings) => layer({ ...settings, ...options })))
