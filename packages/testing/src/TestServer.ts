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
 * refill continuously over a minute, or gets a 429 `rate_limit_exceeded` (type `requests` or
 * `tokens`) with `retry-after` (s, rounded up) and `retry-after-ms`. Refused requests take nothing.
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

/**
 * Latency added to successful replies (errors and refusals answer at once): `minMs`, or uniform in
 * `[minMs, maxMs]` from the seeded generator, plus `perOutputTokenMs` × completion tokens.
 *
 * @since 0.1.0
 * @category models
 */
export interface Latency {
  readonly minMs: number
  readonly maxMs?: number | undefined
  readonly perOutputTokenMs?: number | undefined
}

/**
 * The kinds of injected faults.
 *
 * - `serverError`: 500, 502 or 503 with an OpenAI `server_error` body.
 * - `rateLimit`: 429 `rate_limit_exceeded` with `retry-after`/`retry-after-ms` drawn from
 *   `retryAfterMs`; with `burst`, every request in that window is refused as well.
 * - `reset`: the socket is destroyed without an answer.
 * - `hang`: never answers (until the client gives up or the server closes).
 * - `slowBody`: a 200 whose body arrives in 4 chunks spread over `slowBodyMs` (default 200 ms).
 * - `malformed`: a 200 `application/json` whose body is not JSON.
 * - `truncated`: a 200 announcing the full `content-length`, half the body, then the socket closes.
 *
 * @since 0.1.0
 * @category models
 */
export type FaultKind = "serverError" | "rateLimit" | "reset" | "hang" | "slowBody" | "malformed" | "truncated"

/**
 * Fault injection: each share is a probability in 0..1 (shares add up; the rest is served
 * normally). One draw of a PRNG seeded with `seed` per chat/embeddings request picks the fault, so
 * the same request sequence meets the same faults.
 *
 * @since 0.1.0
 * @category models
 */
export interface Faults {
  readonly seed?: number | undefined
  readonly serverError?: number | undefined
  readonly rateLimit?: number | undefined
  /** Range of the retry-after of injected 429s, in ms (default [20, 100]). */
  readonly retryAfterMs?: readonly [number, number] | undefined
  /** When true, an injected 429 refuses every request until its retry-after has passed. */
  readonly burst?: boolean | undefined
  readonly reset?: number | undefined
  readonly hang?: number | undefined
  readonly slowBody?: number | undefined
  /** Total time over which a slow body is written (default 200 ms). */
  readonly slowBodyMs?: number | undefined
  readonly malformed?: number | undefined
  readonly truncated?: number | undefined
}

/**
 * Server options. All can be changed while running with {@link TestServer.configure} (except
 * `port`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Port on 127.0.0.1; a free one when absent or 0. */
  readonly port?: number | undefined
  /** When set, requests need `Authorization: Bearer <apiKey>` (else 401). */
  readonly apiKey?: string | undefined
  /** When set, only these models exist (others → 404 `model_not_found`); also the `/v1/models` list. */
  readonly models?: ReadonlyArray<string> | undefined
  readonly latency?: Latency | undefined
  /** Requests-per-minute bucket (capacity = limit, refilled continuously over a minute). */
  readonly requestsPerMinute?: number | undefined
  /** Tokens-per-minute bucket; a request costs prompt tokens + max tokens (or `defaultOutputTokens`). */
  readonly tokensPerMinute?: number | undefined
  /** Every chat/embeddings request → 429 `insufficient_quota`. */
  readonly insufficientQuota?: boolean | undefined
  readonly faults?: Faults | undefined
  /** Output tokens charged to the TPM bucket when a request sets no max tokens (default 16). */
  readonly defaultOutputTokens?: number | undefined
  /** Embedding size when a request sets no `dimensions` (default 8). */
  readonly embeddingDimensions?: number | undefined
}

/**
 * What the server has seen since it started or since the last `reset`.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerStats {
  /** Requests received (every path and outcome, faults included). */
  readonly requests: number
  /** Requests per sha256 hex of the raw request body (requests with a body only). */
  readonly byBodyHash: ReadonlyMap<string, number>
  /** Highest number of requests in flight at once. */
  readonly maxConcurrent: number
  /** Requests in flight now (hung requests count until their connection closes). */
  readonly inFlight: number
  /** 429 responses sent (limits, quota and injected). */
  readonly rateLimited: number
  /** Responses sent per HTTP status (resets and hangs have none). */
  readonly byStatus: Readonly<Record<number, number>>
  /** Requests per URL path (without the query string). */
  readonly byPath: Readonly<Record<string, number>>
  /** Injected faults per kind. */
  readonly faults: Readonly<Record<FaultKind, number>>
  /**
   * Requests received in each second since the server started (or since `reset`): entry `i`
   * counts arrivals in [i s, i+1 s). For checking peaks against a per-second limit.
   *
   * @since 0.2.0
   */
  readonly requestsPerSecond: ReadonlyArray<number>
  /**
   * The largest entry of `requestsPerSecond` (0 before the first request).
   *
   * @since 0.2.0
   */
  readonly peakRequestsPerSecond: number
}

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

const usage = `Usage: bin.ts [options]
  --port N                 port on 127.0.0.1 (0 = free port, default)
  --api-key KEY            require "Authorization: Bearer KEY"
  --models a,b,c           only these models exist (others 404)
  --latency MS             fixed latency of successful replies
  --latency-max MS         random latency in [--latency, --latency-max]
  --latency-per-token MS   extra latency per output token
  --rpm N                  requests-per-minute limit
  --tpm N                  tokens-per-minute limit
  --default-output-tokens N  tokens charged when a request sets no max tokens (16)
  --insufficient-quota     every request → 429 insufficient_quota
  --seed N                 fault PRNG seed
  --server-error P  --rate-limit P  --reset P  --hang P  --slow-body P  --malformed P  --truncated P
                           fault shares in 0..1
  --retry-after MIN[,MAX]  retry-after range of injected 429s (ms)
  --burst                  an injected 429 refuses everything until its retry-after
  --slow-body-ms MS        duration of a slow body (200)
  --dimensions N           default embedding size (8)`

/**
 * The usage text of the standalone command.
 *
 * @since 0.1.0
 * @category parsing
 */
export const argsUsage: string = usage

/**
 * Parses the standalone command's flags (see {@link argsUsage}) into {@link Options}; `Left` holds
 * a message for the user.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseArgs = (argv: ReadonlyArray<string>): Either.Either<Options, string> => {
  const options: {
    -readonly [K in keyof Options]: Options[K]
  } = {}
  const latency: { minMs: number; maxMs?: number; perOutputTokenMs?: number } = { minMs: 0 }
  let hasLatency = false
  const faults: { -readonly [K in keyof Faults]: Faults[K] } = {}
  let hasFaults = false
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const [name, inline] = flag.includes("=") ? [flag.slice(0, flag.indexOf("=")), flag.slice(flag.indexOf("=") + 1)] : [
      flag,
      undefined
    ]
    const value = (): string => {
      if (inline !== undefined) return inline
      const next = argv[++i]
      if (next === undefined) throw new ArgsError(`${name} needs a value`)
      return next
    }
    const number = (min = 0, max = Number.POSITIVE_INFINITY): number => {
      const text = value()
      const parsed = Number(text)
      if (text.trim() === "" || !Number.isFinite(parsed) || parsed < min || parsed > max) {
        throw new ArgsError(`${name}: expected a number in [${min}, ${max}], got "${text}"`)
      }
      return parsed
    }
    const share = (kind: FaultKind) => {
      faults[kind] = number(0, 1)
      hasFaults = true
    }
    try {
      switch (name) {
        case "--port":
          options.port = number(0, 65535)
          break
        case "--api-key":
          options.apiKey = value()
          break
        case "--models":
          options.models = value().split(",").map((model) => model.trim()).filter((model) => model !== "")
          break
        case "--latency":
          latency.minMs = number()
          hasLatency = true
          break
        case "--latency-max":
          latency.maxMs = number()
          hasLatency = true
          break
        case "--latency-per-token":
          latency.perOutputTokenMs = number()
          hasLatency = true
          break
        case "--rpm":
          options.requestsPerMinute = number(1)
          break
        case "--tpm":
          options.tokensPerMinute = number(1)
          break
        case "--default-output-tokens":
          options.defaultOutputTokens = number()
          break
        case "--insufficient-quota":
          options.insufficientQuota = true
          break
        case "--seed":
          faults.seed = number(Number.MIN_SAFE_INTEGER)
          hasFaults = true
          break
        case "--server-error":
          share("serverError")
          break
        case "--rate-limit":
          share("rateLimit")
          break
        case "--reset":
          share("reset")
          break
        case "--hang":
          share("hang")
          break
        case "--slow-body":
          share("slowBody")
          break
        case "--malformed":
          share("malformed")
          break
        case "--truncated":
          share("truncated")
          break
        case "--retry-after": {
          const parts = value().split(",").map(Number)
          const min = parts[0] ?? Number.NaN
          const max = parts[1] ?? min
          if (!Number.isFinite(min) || !Number.isFinite(max) || min < 0 || max < min) {
            throw new ArgsError(`${name}: expected MIN[,MAX] in ms`)
          }
          faults.retryAfterMs = [min, max]
          hasFaults = true
          break
        }
        case "--burst":
          faults.burst = true
          hasFaults = true
          break
        case "--slow-body-ms":
          faults.slowBodyMs = number()
          hasFaults = true
          break
        case "--dimensions":
          options.embeddingDimensions = number(1, 4096)
          break
        default:
          return Either.left(`Unknown option ${name}\n${usage}`)
      }
    } catch (error) {
      if (error instanceof ArgsError) return Either.left(error.message)
      throw error
    }
  }
  if (hasLatency) options.latency = latency
  if (hasFaults) options.faults = faults
  return Either.right(options)
}

class ArgsError {
  constructor(readonly message: string) {}
}
