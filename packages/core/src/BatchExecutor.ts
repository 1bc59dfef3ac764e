/**
 * The `BatchExecutor` service: a provider's asynchronous batch API (OpenAI's Batch API today,
 * Anthropic's Message Batches later) as four steps — upload a file of requests, create a batch
 * from it, poll it, fetch its results — plus cancel and list. `BatchJob.run` drives it the way
 * the RequestManager drives a `Provider`: cache-first, one result per item in input order, typed
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
import type { ApiRequest, ApiResponse } from "./ApiRequest.js"
import { ApiError, type ProviderError } from "./LLMError.js"

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
