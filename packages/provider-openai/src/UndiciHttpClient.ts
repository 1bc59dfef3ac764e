/**
 * A lean `HttpClient` over an undici `Agent`: the provider's default transport. It speaks
 * undici's dispatch API directly and buffers each response body before handing the response out,
 * so one request costs one callback chain and no Node streams, fibers or spans. It implements the
 * whole `HttpClient` interface, but it sends only string and byte bodies (not streams or form data)
 * and its responses arrive complete (no incremental streaming): made for JSON APIs.
 *
 * Any other `HttpClient` works with the provider too (`OpenAiProvider.layerWithHttpClient`), for
 * example `NodeHttpClient.layerUndici` from `@effect/platform-node` or `FetchHttpClient.layer`.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Undici from "undici"
import * as internal from "./internal/undiciHttpClient.js"

/**
 * Options of the connection pool.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Maximum connections per origin. Default: no cap, so the pool grows to the number of requests
   * in flight (which the RequestManager's `concurrency` bounds) and keeps them alive for reuse.
   * A number caps it: requests beyond it wait in undici's queue.
   */
  readonly connections?: number | undefined
  /** How long an idle connection is kept, in milliseconds. Default: undici's (4 s, or the server's hint). */
  readonly keepAliveTimeout?: number | undefined
  /**
   * The HTTP(S) proxy. Default `"environment"`: `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (or
   * their lower-case spellings), as curl, pip and the openai SDK's users expect, through undici's
   * `EnvHttpProxyAgent`; with none of them set, no proxy (and no cost). `"none"` ignores them;
   * `{ httpProxy, httpsProxy, noProxy }` sets them here (`httpsProxy` defaults to `httpProxy`).
   *
   * @since 0.2.0
   */
  readonly proxy?: internal.Proxy | undefined
}

/**
 * An `HttpClient` over the given undici dispatcher (an `Agent`, `Pool` or `Client`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (dispatcher: Undici.Dispatcher) => HttpClient.HttpClient = internal.make

/**
 * A keep-alive undici `Agent` (no proxy: see {@link makeDispatcher}), destroyed when the scope closes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeAgent: (options?: Options) => Effect.Effect<Undici.Agent, never, Scope.Scope> = (options = {}) =>
  internal.makeAgent(options)

/**
 * Whether the environment names a proxy (`HTTP_PROXY`, `HTTPS_PROXY`, or lower case), as undici's
 * `EnvHttpProxyAgent` reads them.
 *
 * @since 0.2.0
 * @category predicates
 */
export const environmentHasProxy: (env?: NodeJS.ProcessEnv) => boolean = internal.environmentHasProxy

/**
 * The dispatcher the default transport uses: a keep-alive `Agent`, or, when a proxy is set (by
 * `options.proxy` or the environment), undici's `EnvHttpProxyAgent` with the same pool options;
 * destroyed when the scope closes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeDispatcher: (options?: Options) => Effect.Effect<Undici.Dispatcher, never, Scope.Scope> = (
  options = {}
) => internal.makeDispatcher(options)

/**
 * The lean client over its own dispatcher ({@link makeDispatcher}: proxies from the environment
 * are honoured), as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<HttpClient.HttpClient> =>
  Layer.scoped(HttpClient.HttpClient, Effect.map(makeDispatcher(options), make))
