/**
 * A job through the batch API of the `BatchExecutor` in context: {@link run} for arrays of
 * requests (cache-first, one result per item in input order), and {@link drive}, the engine that
 * `run` and the CLI's `--batch-api` share (uploads, creations, polls, downloads, follow-ups),
 * reporting each step to a {@link Journal} that the CLI makes durable.
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type { ApiResponse, Input } from "./ApiRequest.js"
import type { BatchError, BatchExecutor } from "./BatchExecutor.js"
import type { Cache } from "./Cache.js"
import * as internal from "./internal/batchDriver.js"
import type { ItemResult } from "./ItemResult.js"

/**
 * Options of {@link run} and {@link drive}: polling (`pollInterval`, default 5 s, backing off to
 * `pollIntervalMax`, default 60 s), `batchSize`, `retries` of expired lines (default 4), `cache`,
 * `timeToLive`, `limitRetries` (refusals for a limit before a batch is halved, default 3) and
 * `onProgress`.
 *
 * @since 0.2.0
 * @category models
 */
export type Options = internal.Options

/**
 * Where a job stands: its batches by status (plus `uploading`, `waiting` and `ended`), and the
 * request counts summed over them.
 *
 * @since 0.2.0
 * @category models
 */
export type Progress = internal.Progress

/**
 * The results of {@link run}, in input order, and the number of batches created.
 *
 * @since 0.2.0
 * @category models
 */
export type BatchRunResult = internal.BatchRunResult

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
 * import { BatchJob, Cache } from "@fastllm/core"
 * import { OpenAiBatch } from "@fastllm/provider-openai"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * const program = BatchJob.run([
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
