/**
 * The options and statistics of the test server (the types behind `TestServer.Options`,
 * `TestServer.ServerStats`, ...), in their own module so that the server's parts and the flag
 * table can import them without importing the server.
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"

/**
 * Latency added to successful replies (errors and refusals answer at once): `minMs`, or uniform in
 * `[minMs, maxMs]` from the seeded generator, plus `perOutputTokenMs` × completion tokens, plus
 * the congestion terms: with n requests in flight when a request is answered (itself included),
 * `perInFlightMs` × (n − 1) + `perInFlightSquaredMs` × (n − 1)². The linear term makes throughput
 * level off; the squared one gives a concurrency sweep an optimum near sqrt(minMs /
 * perInFlightSquaredMs). Replies with a latency carry `x-fastllm-latency-ms`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Latency {
  readonly minMs: number
  readonly maxMs?: number | undefined
  readonly perOutputTokenMs?: number | undefined
  /**
   * Extra ms per other request in flight.
   *
   * @since 0.2.0
   */
  readonly perInFlightMs?: number | undefined
  /**
   * Extra ms per the square of the other requests in flight.
   *
   * @since 0.2.0
   */
  readonly perInFlightSquaredMs?: number | undefined
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
  /**
   * Share of structured-output answers (`response_format: json_schema`, or a forced function
   * call) that do not conform to their schema: bad JSON, a missing field or a wrong enum value.
   * Decided by a hash of `seed` and the whole conversation (not by arrival order), so a rerun
   * meets the same answers and a repair gets a draw of its own.
   *
   * @since 0.2.0
   */
  readonly invalidOutput?: number | undefined
  /**
   * Share of structured-output answers that are refusals (`message.refusal`), drawn the same way.
   *
   * @since 0.2.0
   */
  readonly refusal?: number | undefined
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
  /** When set, requests need `Authorization: Bearer <apiKey>` (in Azure mode `api-key: <apiKey>`), else 401. */
  readonly apiKey?: string | undefined
  /** When set, only these models exist (others → 404 `model_not_found`); also the `/v1/models` list. */
  readonly models?: ReadonlyArray<string> | undefined
  readonly latency?: Latency | undefined
  /** Requests-per-minute bucket (capacity = limit × `rateWindow` / 1 min, refilled continuously). */
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
  /**
   * The window over which the RPM/TPM limits are enforced (default 1 minute): each bucket holds
   * limit × window / 1 minute and refills continuously at the limit's rate, as OpenAI's quantized
   * limits (e.g. 3,000 RPM over 1 s: at most 50 at once, 50 more each second).
   *
   * @since 0.2.0
   */
  readonly rateWindow?: Duration.DurationInput | undefined
  /**
   * Azure OpenAI mode: `apiKey` is checked in the `api-key` header (not `Authorization`), and the
   * paths `/openai/deployments/{deployment}/chat/completions|embeddings?api-version=V` and
   * `/openai/v1/...` are served (besides `/v1/...`).
   *
   * @since 0.2.0
   */
  readonly azure?: boolean | undefined
  /**
   * The `api-version`s accepted on Azure deployment paths (others → 400 "API version not
   * supported"; none → 404 "Resource not found"). Default: the GA and preview versions from
   * 2023-05-15 to 2025-04-01-preview.
   *
   * @since 0.2.0
   */
  readonly azureApiVersions?: ReadonlyArray<string> | undefined
  /** The Files and Batch API's fast clock and faults. */
  readonly batch?: BatchOptions | undefined
}

/**
 * The Batch API's fast clock and seeded faults. A batch validates for `validatingMs`, answers
 * its lines at `linesPerSecond`, finalizes for `finalizingMs` (the clock in force when it was
 * created); counts of faults apply to the next batches created and start again with each
 * `configure` of `batch`.
 *
 * @since 0.2.0
 * @category models
 */
export interface BatchOptions {
  /** Default 20 ms. */
  readonly validatingMs?: number | undefined
  /** Default 50,000. */
  readonly linesPerSecond?: number | undefined
  /** Default 20 ms. */
  readonly finalizingMs?: number | undefined
  /** Share (0..1) of lines answered with a 400 in the error file. */
  readonly lineErrors?: number | undefined
  /** The next N batches expire half-way: half their lines come back `batch_expired`. */
  readonly expireBatches?: number | undefined
  /** The next N batches fail validation. */
  readonly failValidation?: number | undefined
  /** The next N batches are refused for the enqueued-token limit (`failed`, `token_limit_exceeded`). */
  readonly refuseCreations?: number | undefined
  /** Seed of the shuffles and the per-line faults. */
  readonly seed?: number | undefined
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
  /**
   * Structured-output answers given, by kind: schema-conforming, not conforming
   * (`invalidOutput`), refusals.
   *
   * @since 0.2.0
   */
  readonly structuredAnswers: { readonly valid: number; readonly invalid: number; readonly refusals: number }
}
