import * as Effect from "effect/Effect"
import type * as ApiRequest from "../ApiRequest.js"
import type { BatchStats } from "../BatchStats.js"
import type { ItemResult } from "../ItemResult.js"
import { InvalidRequestError, type ProviderError } from "../LLMError.js"
import * as ResponseWrapper from "../ResponseWrapper.js"

/*
 * Running a RequestBatch, below both RequestBatch.ts and RequestManager.ts so that neither imports
 * the other for it (RequestBatch.ts needs the RequestManager tag; RequestManager.ts keeps the
 * deprecated `processBatch` alias).
 */

/** @internal */
export const TypeId: unique symbol = Symbol.for("@fastllm/core/RequestBatch")

/** @internal */
export type TypeId = typeof TypeId

/**
 * A request that decoded: it will be sent (or answered from the cache).
 *
 * @internal
 */
export interface ValidItem {
  readonly _tag: "Valid"
  /** `${key}#${position}` */
  readonly id: string
  readonly position: number
  /** The cache key, `RequestKey.make(provider, request)`. */
  readonly key: string
  readonly request: ApiRequest.ApiRequest
}

/**
 * A request that did not decode: never sent, reported with its error.
 *
 * @internal
 */
export interface InvalidItem {
  readonly _tag: "Invalid"
  /** `invalid#${position}` */
  readonly id: string
  readonly position: number
  /** The kind the caller asked for (`chat.completions.create` / `embeddings.create`), if any. */
  readonly kind: ApiRequest.Kind | undefined
  /** The parameters as given. */
  readonly input: unknown
  readonly error: InvalidRequestError
}

/** @internal */
export type Item = ValidItem | InvalidItem

/** What processing needs of a RequestBatch. @internal */
export interface BatchLike {
  readonly [TypeId]: TypeId
  readonly provider: string
  readonly items: ReadonlyArray<Item>
}

/** What processing needs of a RequestManager. @internal */
export interface Runner {
  readonly providerName: string
  readonly run: (
    requests: Iterable<ApiRequest.Input>
  ) => Effect.Effect<{ readonly results: ReadonlyArray<ItemResult>; readonly stats: BatchStats }>
}

/**
 * What `RequestBatch.process` returns: one wrapper per request, in batch order, and the run's stats.
 *
 * @internal
 */
export interface ProcessedBatch {
  readonly responses: ReadonlyArray<ResponseWrapper.ResponseWrapper>
  readonly stats: BatchStats
}

/** @internal */
export const isBatch = (u: unknown): u is BatchLike => typeof u === "object" && u !== null && TypeId in u

/** `RequestBatch.processWith`. @internal */
export const processWith = (manager: Runner, batch: BatchLike | Iterable<ApiRequest.Input>): Effect.Effect<ProcessedBatch> => {
  if (!isBatch(batch)) {
    return Effect.map(manager.run(batch), ({ results, stats }) => ({
      responses: results.map((result) => ResponseWrapper.fromResult(result)),
      stats
    }))
  }
  const items = batch.items.slice()
  const mismatch = batch.provider === manager.providerName ? undefined : new InvalidRequestError({
    reason: `the batch was built for provider "${batch.provider}" but the RequestManager sends to ` +
      `"${manager.providerName}", so its ids are not the manager's cache keys; build it with ` +
      `RequestBatch.make() or RequestBatch.forProvider("${manager.providerName}")`
  })
  const toSend = mismatch === undefined
    ? items.filter((item): item is ValidItem => item._tag === "Valid")
    : []
  return Effect.map(manager.run(toSend.map((item) => item.request)), ({ results, stats }) => {
    const local: Array<ProviderError> = []
    const failed = (item: Item, error: InvalidRequestError): ResponseWrapper.ResponseWrapper => {
      local.push(error)
      return ResponseWrapper.failure({
        _tag: "Failure",
        index: item.position,
        key: item._tag === "Valid" ? item.key : undefined,
        kind: item._tag === "Valid" ? (item.request._tag === "Chat" ? "chat" : "embedding") : item.kind,
        attempts: 0,
        error
      }, item.id)
    }
    let sent = 0
    const responses = items.map((item): ResponseWrapper.ResponseWrapper => {
      if (item._tag === "Invalid") return failed(item, item.error)
      if (mismatch !== undefined) return failed(item, mismatch)
      const result = results[sent++]
      return result === undefined
        ? failed(item, new InvalidRequestError({ reason: "the RequestManager returned no result for this item" }))
        : ResponseWrapper.fromResult({ ...result, index: item.position }, item.id)
    })
    return { responses, stats: withLocalFailures(stats, local) }
  })
}

/** Counts failures found before the manager ran (invalid items) into the run's stats. */
const withLocalFailures = (stats: BatchStats, failures: ReadonlyArray<ProviderError>): BatchStats => {
  if (failures.length === 0) return stats
  const failuresByKind: Record<string, number> = { ...stats.failuresByKind }
  for (const error of failures) failuresByKind[error._tag] = (failuresByKind[error._tag] ?? 0) + 1
  const done = stats.done + failures.length
  const seconds = stats.elapsedMillis / 1000
  return {
    ...stats,
    total: stats.total + failures.length,
    done,
    failed: stats.failed + failures.length,
    failuresByKind,
    requestsPerSecond: seconds > 0 ? done / seconds : 0
  }
}
