/**
 * A local OpenAI-compatible server for tests, benchmarks and key-less runs: `POST
 * /v1/chat/completions`, `POST /v1/embeddings`, `GET /v1/models`, with deterministic replies,
 * OpenAI's validation and error bodies, latency, enforced rate limits, fault injection from a seed,
 * and statistics for assertions. It listens on 127.0.0.1 only.
 *
 * Replies: the content of choice 0 is `Echo: <last user message, first 100 chars> (<8 hex digest
 * of model + that message>)`, truncated to `max_completion_tokens`/`max_tokens` × 4 characters
 * (finish_reason `"length"`) when longer. Tokens are estimated everywhere as ceil(characters / 4):
 * `prompt_tokens` over the text of all messages, `completion_tokens` over the reply.
 *
 * Rate limits: with `requestsPerMinute`/`tokensPerMinute` set, every response (errors and GETs
 * included) carries `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`; a chat/embeddings
 * request takes 1 request and prompt + max tokens (embeddings: input tokens) from buckets that
 * hold limit × `rateWindow` / 1 minute (the whole minute's quota by default) and refill
 * continuously, or gets a 429 `rate_limit_exceeded` (type `requests` or `tokens`) with
 * `retry-after` (s, rounded up) and `retry-after-ms`. Refused requests take nothing.
 *
 * With `azure: true` it also serves Azure OpenAI's paths and `api-key` header. Endpoints live in a
 * route table (`internal/routes.ts` says how to add one); the flags of bin.ts and `fastllm
 * mock-server` in `ServerFlags`.
 *
 * The hot path is plain `node:http` (no fiber per request): see `internal/server.ts` and
 * bench/testing-server.ts for the measurement behind that choice.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { type RunningNodeServer, listen } from "./internal/server.js"
import * as ServerFlags from "./ServerFlags.js"
import type { Options, ServerStats } from "./ServerOptions.js"

/** @since 0.1.0 */
export type { BatchOptions, FaultKind, Faults, Latency, Options, ServerStats } from "./ServerOptions.js"

/**
 * A running test server.
 *
 * @since 0.1.0
 * @category models
 */
export interface TestServer {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:53211/v1`. */
  readonly url: string
  readonly port: number
  readonly stats: Effect.Effect<ServerStats>
  /** Zeroes the statistics. */
  readonly reset: Effect.Effect<void>
  /** Changes options while running: a shallow merge; new limits start full, new `faults` re-seed. */
  readonly configure: (patch: Partial<Options>) => Effect.Effect<void>
}

/**
 * The service tag of a running test server.
 *
 * @since 0.1.0
 * @category tags
 */
export const TestServer: Context.Tag<TestServer, TestServer> = Context.GenericTag<TestServer>(
  "@fastllm/testing/TestServer"
)

const toService = (server: RunningNodeServer): TestServer => ({
  url: server.url,
  port: server.port,
  stats: Effect.sync(() => server.engine.stats()),
  reset: Effect.sync(() => server.engine.resetStats()),
  configure: (patch) => Effect.sync(() => server.engine.configure(patch))
})

/**
 * Starts a server on 127.0.0.1 that closes with the scope (open connections, hung ones included,
 * are destroyed). Failing to listen (a taken `port`) is a defect.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { TestServer } from "@fastllm/testing"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* TestServer.make({ latency: { minMs: 5 }, requestsPerMinute: 600 })
 *   // point a provider at server.url ...
 *   const stats = yield* server.stats
 *   return stats.requests
 * }).pipe(Effect.scoped)
 * ```
 */
export const make = (options: Options = {}): Effect.Effect<TestServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => listen(options)),
    (server) => Effect.promise(() => server.close())
  ).pipe(Effect.map(toService))

/**
 * The server as a layer (the tag {@link TestServer}); it closes when the layer's scope closes.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<TestServer> => Layer.scoped(TestServer, make(options))

/**
 * Serves until interrupted: starts the server, prints one JSON line `{"url": ..., "port": ...}` to
 * stdout, then waits forever. What `fastllm mock-server` and bin.ts run (under `NodeRuntime.runMain`,
 * SIGINT/SIGTERM interrupt it and the server closes).
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = (options: Options = {}): Effect.Effect<never, never, Scope.Scope> =>
  Effect.flatMap(
    make(options),
    (server) =>
      Effect.zipRight(Console.log(JSON.stringify({ url: server.url, port: server.port })), Effect.never)
  )

/**
 * A running server for Promise-based code (benchmark scripts): plain functions, no Effect.
 *
 * @since 0.1.0
 * @category models
 */
export interface RunningServer {
  readonly url: string
  readonly port: number
  readonly stats: () => ServerStats
  readonly reset: () => void
  readonly configure: (patch: Partial<Options>) => void
  readonly close: () => Promise<void>
}

/**
 * Starts a server without Effect; call `close()` when done.
 *
 * @since 0.1.0
 * @category constructors
 * @example
 * ```ts
 * import { TestServer } from "@fastllm/testing"
 *
 * const server = await TestServer.start({ latency: { minMs: 0 } })
 * // ... fetch(`${server.url}/chat/completions`, ...)
 * await server.close()
 * ```
 */
export const start = async (options: Options = {}): Promise<RunningServer> => {
  const server = await listen(options)
  return {
    url: server.url,
    port: server.port,
    stats: () => server.engine.stats(),
    reset: () => server.engine.resetStats(),
    configure: (patch) => server.engine.configure(patch),
    close: server.close
  }
}

/**
 * The usage text of the standalone command.
 *
 * @since 0.1.0
 * @category parsing
 */
export const argsUsage: string = ServerFlags.usage

/**
 * Parses the standalone command's flags (see {@link argsUsage}) into {@link Options}; `Left` holds
 * a message for the user. The flags are defined once, in `ServerFlags`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseArgs: (argv: ReadonlyArray<string>) => Either.Either<Options, string> = ServerFlags.parse
