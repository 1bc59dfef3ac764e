/**
 * The `BatchExecutor` service: a provider's asynchronous batch API (OpenAI's Batch API today,
 * Anthropic's Message Batches later) as four steps — upload a file of requests, create a batch
 * from it, poll it, fetch its results — plus cancel and list. {@link run} drives it the way the
 * RequestManager drives a `Provider`: cache-first, one result per item in input order, typed
 * errors, at half the online price and with a latency of minutes to hours.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type { ApiRequest, ApiResponse, Input } from "./ApiRequest.js"
import type { Cache } from "./Cache.js"
import * as internal from "./internal/batchDriver.js"
import { ApiError, type ProviderError } from "./LLMError.js"
import type { ItemResult } from "./RequestManager.js"

/**
 * The endpoint a batch runs: every line of one batch goes to the same one.
 *
 * @since 0.2.0
 * @category models
 */
export type Endpoint = "/v1/chat/completions" | "/v1/embeddings"

/**
 * The endpoint of a request.
 *
 * @since 0.2.0
 * @category getters
 */
export const endpointOf = (request: ApiRequest): Endpoint =>
  request._tag === "Chat" ? "/v1/chat/completions" : "/v1/embeddings"

/**
 * A batch's status, as OpenAI names it: `validating → in_progress → finalizing → completed`, or
 * `failed` (validation), `expired` (the completion window ended), `cancelling → cancelled`.
 *
 * @since 0.2.0
 * @category models
 */
export const Status = Schema.Literal(
  "validating",
  "failed",
  "in_progress",
  "finalizing",
  "completed",
  "expired",
  "cancelling",
  "cancelled"
)

/**
 * @since 0.2.0
 * @category models
 */
export type Status = typeof Status.Type

/**
 * Whether a batch in this status will not change any more.
 *
 * @since 0.2.0
 * @category getters
 */
export const isTerminal = (status: Status): boolean =>
  status === "completed" || status === "failed" || status === "expired" || status === "cancelled"

/**
 * Requests of a batch: all, answered, failed (OpenAI's `request_counts`).
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestCounts {
  readonly total: number
  readonly completed: number
  readonly failed: number
}

/**
 * One batch as the provider reports it.
 *
 * @since 0.2.0
 * @category models
 */
export interface BatchInfo {
  readonly id: string
  readonly status: Status
  readonly endpoint: string
  readonly inputFileId: string
  readonly outputFileId: string | undefined
  readonly errorFileId: string | undefined
  readonly requestCounts: RequestCounts
  /** Unix seconds. */
  readonly createdAt: number
  /** Why the batch failed validation (or was refused), one entry per problem. */
  readonly errors: ReadonlyArray<{ readonly code: string; readonly message: string; readonly line?: number | undefined }>
  readonly metadata: Readonly<Record<string, string>>
}

/**
 * One request of a batch file; `customId` maps its result back (unique within a file).
 *
 * @since 0.2.0
 * @category models
 */
export interface RequestLine {
  readonly customId: string
  readonly request: ApiRequest
}

/**
 * The result of one line of a finished batch: answered, failed with the API's error (a 400 in the
 * error file), or not executed before the batch expired or was cancelled (to resubmit).
 *
 * @since 0.2.0
 * @category models
 */
export type LineOutcome =
  | { readonly _tag: "Answered"; readonly customId: string; readonly response: ApiResponse }
  | { readonly _tag: "Failed"; readonly customId: string; readonly error: ProviderError }
  | { readonly _tag: "Expired"; readonly customId: string }

/**
 * A batch operation that failed as a whole. `kind` says what to do about it: `limit` (a quota or
 * enqueued-token limit: wait, or submit less), `transient` (network, 5xx: try again),
 * `rejected` (the request or file is invalid: retrying the same fails again), `unauthorized`
 * (key or permission), `notFound` (no such file or batch).
 *
 * @since 0.2.0
 * @category errors
 */
export class BatchError extends Schema.TaggedError<BatchError>()("BatchError", {
  operation: Schema.Literal("upload", "create", "retrieve", "results", "cancel", "list"),
  kind: Schema.Literal("limit", "transient", "rejected", "unauthorized", "notFound"),
  status: Schema.optional(Schema.Number),
  code: Schema.optional(Schema.String),
  detail: Schema.String,
  retryAfter: Schema.optional(Schema.DurationFromMillis)
}) {
  override get message(): string {
    const status = this.status === undefined ? "" : ` (HTTP ${this.status}${this.code === undefined ? "" : `, ${this.code}`})`
    return `batch ${this.operation} failed${status}: ${this.detail}`
  }
}

/**
 * The failure of a line that expired (or was cancelled) more often than the retries allow.
 *
 * @since 0.2.0
 * @category errors
 */
export const expiredError = (attempts: number): ApiError =>
  new ApiError({
    status: 408,
    type: "batch_expired",
    code: "batch_expired",
    detail: `This request was not executed before its batch expired or was cancelled (${attempts} batch${
      attempts === 1 ? "" : "es"
    } tried).`,
    retryable: true
  })

/**
 * The BatchExecutor service tag.
 *
 * @since 0.2.0
 * @category tags
 */
export class BatchExecutor extends Context.Tag("@fastllm/core/BatchExecutor")<BatchExecutor, BatchExecutor.Service>() {}

/**
 * @since 0.2.0
 */
export declare namespace BatchExecutor {
  /**
   * @since 0.2.0
   * @category models
   */
  export interface Service {
    /** The provider name in request keys: the same as the online provider's for the same server. */
    readonly name: string
    /** Most requests in one batch file. */
    readonly maxRequests: number
    /** Largest batch file, in bytes (as {@link lineBytes} counts). */
    readonly maxBytes: number
    /** Uploads a file of requests for `endpoint`; returns its file id. */
    readonly upload: (endpoint: Endpoint, lines: ReadonlyArray<RequestLine>) => Effect.Effect<string, BatchError>
    /** Creates a batch from an uploaded file. */
    readonly create: (
      fileId: string,
      endpoint: Endpoint,
      metadata?: Readonly<Record<string, string>>
    ) => Effect.Effect<BatchInfo, BatchError>
    /** The batch as it is now. */
    readonly retrieve: (batchId: string) => Effect.Effect<BatchInfo, BatchError>
    /** The results of a batch that ended: its output file and its error file, in any order. */
    readonly results: (batch: BatchInfo) => Stream.Stream<LineOutcome, BatchError>
    /** Asks to cancel a batch (it goes through `cancelling`). */
    readonly cancel: (batchId: string) => Effect.Effect<BatchInfo, BatchError>
    /** The most recent batches, newest first. */
    readonly list: (options?: {
      readonly limit?: number | undefined
      readonly after?: string | undefined
    }) => Effect.Effect<ReadonlyArray<BatchInfo>, BatchError>
  }
}

/**
 * A request as one line of an OpenAI batch file (the de facto format), without the newline.
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeLine = (line: RequestLine): string =>
  JSON.stringify({ custom_id: line.customId, method: "POST", url: endpointOf(line.request), body: line.request.request })

/**
 * The bytes a line takes in a batch file, newline included.
 *
 * @since 0.2.0
 * @category encoding
 */
export const lineBytes = (line: RequestLine): number => Buffer.byteLength(encodeLine(line)) + 1

/**
 * How a batch is polled: from `initial`, 1.5× longer after each poll that saw no change, at most
 * `cap`; back to `initial` as soon as the status or the request counts move.
 *
 * @since 0.2.0
 * @category scheduling
 */
export const pollSchedule = (
  initial: Duration.DurationInput,
  cap: Duration.DurationInput
): Schedule.Schedule<boolean, boolean> =>
  Schedule.identity<boolean>().pipe(
    Schedule.intersect(
      Schedule.exponential(initial, 1.5).pipe(Schedule.modifyDelay((delay) => Duration.min(delay, Duration.decode(cap))))
    ),
    Schedule.map(([changed]) => changed),
    Schedule.resetWhen((changed) => changed)
  )

/**
 * Options of {@link run} and of the CLI's `--batch-api` runs.
 *
 * @since 0.2.0
 * @category models
 */
export interface Options {
  /** First delay between polls of a batch. Default 5 seconds. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Longest delay between polls. Default 60 seconds (or `pollInterval` when longer). */
  readonly pollIntervalMax?: Duration.DurationInput | undefined
  /** Most requests per batch (at most the executor's `maxRequests`). Default the executor's. */
  readonly batchSize?: number | undefined
  /** Follow-up batches for lines that expired or were cancelled. Default 4. */
  readonly retries?: number | undefined
  /** Read and write the `Cache`. Default true. */
  readonly cache?: boolean | undefined
  /** Expiry of the cache entries written. */
  readonly timeToLive?: Duration.DurationInput | undefined
  /** Refusals for a limit before a batch is split in two and the halves submitted. Default 3. */
  readonly limitRetries?: number | undefined
  /** Called after every change of a batch (status, counts), for progress displays. */
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
}

/**
 * Where a job stands: its batches by status (plus `uploading` and `waiting` for ones not created
 * yet), and the request counts summed over them.
 *
 * @since 0.2.0
 * @category models
 */
export interface Progress {
  readonly batches: Readonly<Record<string, number>>
  readonly requests: RequestCounts
  /** Requests answered from the cache without a batch. */
  readonly cached: number
}

/**
 * The results of {@link run}, in input order.
 *
 * @since 0.2.0
 * @category models
 */
export interface BatchRunResult {
  readonly results: ReadonlyArray<ItemResult>
  /** Batches created (follow-ups and halves included). */
  readonly batches: number
}

/**
 * Runs requests through the batch API of the `BatchExecutor` in context. Requests in the `Cache`
 * are answered from it and never uploaded; the rest are grouped by endpoint and model, split at
 * `batchSize` requests and the executor's byte limit, submitted, polled with backoff, and their
 * answers written to the cache under the same key an online call uses (so the RequestManager, or a
 * later run, reuses them). Lines that expire are resubmitted up to `retries` times; lines the API
 * refused (a 400) are failures; a batch refused for a limit waits and is tried again, in halves
 * when it keeps being refused. Fails only when the batch API itself cannot be used (a
 * `BatchError` such as a wrong key); every item otherwise gets its own result.
 *
 * @since 0.2.0
 * @category running
 * @example
 * ```ts
 * import { BatchExecutor, Cache } from "@fastllm/core"
 * import { OpenAiBatch } from "@fastllm/provider-openai"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * const program = BatchExecutor.run([
 *   { model: "gpt-4o-mini", messages: [{ role: "user", content: "Say hi" }] }
 * ], { pollInterval: "30 seconds" })
 *
 * Effect.runPromise(program.pipe(
 *   Effect.provide(Layer.merge(OpenAiBatch.layerConfig(), Cache.memory()))
 * ))
 * ```
 */
export const run: (
  requests: Iterable<Input>,
  options?: Options
) => Effect.Effect<BatchRunResult, BatchError, BatchExecutor | Cache> = internal.run

/**
 * A group of lines that goes into one batch file, for {@link drive}. `load` reads its lines when
 * they are needed (upload, results), so a job holds only a few groups in memory at a time.
 *
 * @since 0.2.0
 * @category driving
 */
export type Group = internal.Group

/**
 * A line that is done: the answer, or the failure.
 *
 * @since 0.2.0
 * @category driving
 */
export type Settled = internal.Settled

/**
 * The steps {@link drive} records as it goes (before each upload and creation, after each, when
 * lines are settled, when a follow-up group is made, when a batch ended). {@link run} keeps them in
 * memory; the CLI writes them durably to its ledger so that a killed run resumes.
 *
 * @since 0.2.0
 * @category driving
 */
export type Journal = internal.Journal

/**
 * Runs groups through the `BatchExecutor` in context until every line is settled: uploads (two at
 * a time), creations (waiting out limit refusals, halving a group refused too often), polls with
 * backoff, result downloads (one at a time), follow-ups for expired lines up to `retries`. What
 * {@link run} and the CLI's `--batch-api` are made of.
 *
 * @since 0.2.0
 * @category driving
 */
export const drive: (
  groups: ReadonlyArray<Group>,
  journal: Journal,
  options: Options & { readonly cached?: number | undefined; readonly metadata?: Readonly<Record<string, string>> | undefined }
) => Effect.Effect<void, BatchError, BatchExecutor> = (groups, journal, options) =>
  internal.drive(groups, journal, { ...internal.driveOptions(options, options.cached ?? 0), metadata: options.metadata })

/**
 * Splits lines into parts of at most `maxRequests` lines and `maxBytes` bytes, in order.
 *
 * @since 0.2.0
 * @category driving
 */
export const chunk: <A>(
  items: ReadonlyArray<A>,
  bytes: (item: A) => number,
  maxRequests: number,
  maxBytes: number
) => ReadonlyArray<ReadonlyArray<A>> = internal.chunk

/**
 * The `Success` item result of an answer, as the RequestManager makes it.
 *
 * @since 0.2.0
 * @category constructors
 */
export const success: (
  index: number,
  key: string,
  response: ApiResponse,
  fromCache: boolean,
  deduplicated: boolean
) => ItemResult = internal.success
