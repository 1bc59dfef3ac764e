/**
 * The seed's batch API (FastLLM for Python's `RequestBatch`), as a front door to the
 * `RequestManager`: build a batch the way you call OpenAI's SDK, get back an id per request, run
 * it, and read one `ResponseWrapper` per request in batch order.
 *
 * ```ts
 * const batch = yield* RequestBatch.make()
 * const id = batch.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: "Hi" }] })
 * batch.embeddings.create({ model: "text-embedding-3-small", input: ["a", "b"] })
 * const { responses, stats } = yield* RequestBatch.process(batch)
 * ```
 *
 * A batch is a builder: `create` appends and returns the request's id, `${key}#${position}`, where
 * `key` is the request's cache key (`RequestKey.make(provider, request)`, the very key the
 * RequestManager computes for the same request passed as a plain object) and `position` its place
 * in the batch. `merge` builds a new batch and leaves its inputs alone.
 *
 * Invalid parameters never throw and never lose the batch: `create` still returns an id
 * (`invalid#${position}`), and the item's `ResponseWrapper` carries the `InvalidRequestError`
 * (found at build time, never sent). `RequestBatch.errors` lists them before anything runs.
 *
 * @since 0.1.0
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { NodeInspectSymbol } from "effect/Inspectable"
import { type Pipeable, pipeArguments } from "effect/Pipeable"
import * as ApiRequest from "./ApiRequest.js"
import * as internal from "./internal/batchProcess.js"
import type { ChatRequestInput } from "./ChatRequest.js"
import type { EmbeddingRequestInput } from "./Embedding.js"
import * as RequestKey from "./RequestKey.js"
import { RequestManager } from "./RequestManager.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: typeof internal.TypeId = internal.TypeId

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = internal.TypeId

/**
 * A request that decoded: it will be sent (or answered from the cache).
 *
 * @since 0.1.0
 * @category models
 */
export type ValidItem = internal.ValidItem

/**
 * A request that did not decode: never sent, reported with its error.
 *
 * @since 0.1.0
 * @category models
 */
export type InvalidItem = internal.InvalidItem

/**
 * One item of a batch.
 *
 * @since 0.1.0
 * @category models
 */
export type Item = ValidItem | InvalidItem

/**
 * A batch of chat completion and embeddings requests, built with OpenAI's SDK names.
 *
 * @since 0.1.0
 * @category models
 */
export interface RequestBatch extends Pipeable, Iterable<Item> {
  readonly [TypeId]: TypeId
  /** The provider name the keys are computed for; must be the RequestManager's `providerName`. */
  readonly provider: string
  /** The number of requests. */
  readonly length: number
  /** The items in batch order (a live view: it grows as requests are added). */
  readonly items: ReadonlyArray<Item>
  /** The request ids in batch order. */
  readonly ids: ReadonlyArray<string>
  readonly chat: {
    readonly completions: {
      /** Adds a chat completion request (OpenAI's `chat.completions.create` parameters); returns its id. */
      readonly create: (params: ChatRequestInput) => string
    }
  }
  readonly embeddings: {
    /** Adds an embeddings request (OpenAI's `embeddings.create` parameters); returns its id. */
    readonly create: (params: EmbeddingRequestInput) => string
  }
  /**
   * Adds a request in its plain JSON form (told apart by `messages` / `input`) or a tagged
   * `ApiRequest`; returns its id.
   */
  readonly add: (input: ApiRequest.Input) => string
}

class RequestBatchImpl implements RequestBatch {
  readonly [TypeId]: TypeId = TypeId
  readonly items: Array<Item> = []
  readonly chat: RequestBatch["chat"]
  readonly embeddings: RequestBatch["embeddings"]

  constructor(readonly provider: string) {
    this.chat = { completions: { create: (params) => this.append(params, "chat") } }
    this.embeddings = { create: (params) => this.append(params, "embedding") }
  }

  get length(): number {
    return this.items.length
  }

  get ids(): ReadonlyArray<string> {
    return this.items.map((item) => item.id)
  }

  readonly add = (input: ApiRequest.Input): string => this.append(input, undefined)

  append(input: unknown, kind: ApiRequest.Kind | undefined): string {
    const item = makeItem(this.provider, this.items.length, input, kind)
    this.items.push(item)
    return item.id
  }

  [Symbol.iterator](): Iterator<Item> {
    return this.items[Symbol.iterator]()
  }

  pipe() {
    return pipeArguments(this, arguments)
  }

  toJSON(): unknown {
    return {
      _id: "RequestBatch",
      provider: this.provider,
      items: this.items.map((item) =>
        item._tag === "Valid"
          ? { id: item.id, kind: item.request._tag, request: item.request.request }
          : { id: item.id, kind: item.kind, input: item.input, error: item.error.message }
      )
    }
  }

  toString(): string {
    return JSON.stringify(this.toJSON(), null, 2)
  }

  [NodeInspectSymbol](): unknown {
    return this.toJSON()
  }
}

const makeItem = (provider: string, position: number, input: unknown, kind: ApiRequest.Kind | undefined): Item => {
  const decoded = ApiRequest.decode(input, kind)
  if (Either.isLeft(decoded)) {
    return { _tag: "Invalid", id: `invalid#${position}`, position, kind, input, error: decoded.left }
  }
  return validItem(provider, position, decoded.right)
}

const validItem = (provider: string, position: number, request: ApiRequest.ApiRequest): ValidItem => {
  const key = RequestKey.make(provider, request)
  return { _tag: "Valid", id: `${key}#${position}`, position, key, request }
}

/**
 * An empty batch whose ids are the cache keys of the RequestManager in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (): Effect.Effect<RequestBatch, never, RequestManager> =>
  Effect.map(RequestManager, (manager) => forProvider(manager.providerName))

/**
 * An empty batch keyed for the provider named `provider` (the `name` of its `Provider` service).
 * Use it to compute ids without a RequestManager; `process` refuses the batch's items if the
 * manager's provider has another name, since the ids would not be its cache keys.
 *
 * @since 0.1.0
 * @category constructors
 */
export const forProvider = (provider: string): RequestBatch => new RequestBatchImpl(provider)

/**
 * A batch of the given requests (plain JSON forms or tagged `ApiRequest`s), in order.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromIterable = (provider: string, inputs: Iterable<ApiRequest.Input>): RequestBatch => {
  const batch = new RequestBatchImpl(provider)
  for (const input of inputs) batch.add(input)
  return batch
}

/**
 * Whether a value is a RequestBatch.
 *
 * @since 0.1.0
 * @category guards
 */
export const isRequestBatch = (u: unknown): u is RequestBatch => internal.isBatch(u)

/**
 * A new batch with the items of `batches` one after the other, renumbered: the first batch's items
 * come first, then the second's, and results come back in that order. The inputs are not changed.
 * The merged batch is keyed for the first batch's provider (keys of items from batches built for
 * another provider are recomputed); its ids differ from the parts' ids only in their position,
 * unless a key was recomputed.
 *
 * @since 0.1.0
 * @category combinators
 */
export const merge = (batches: NonEmptyReadonlyArray<RequestBatch>): RequestBatch => {
  const provider = batches[0].provider
  const merged = new RequestBatchImpl(provider)
  for (const batch of batches) {
    for (const item of batch.items) {
      const position = merged.items.length
      merged.items.push(
        item._tag === "Valid"
          ? validItem(provider, position, item.request)
          : { ...item, id: `invalid#${position}`, position }
      )
    }
  }
  return merged
}

/**
 * The items that did not decode, with their errors, in batch order.
 *
 * @since 0.1.0
 * @category getters
 */
export const errors = (self: RequestBatch): ReadonlyArray<InvalidItem> =>
  self.items.filter((item): item is InvalidItem => item._tag === "Invalid")

/**
 * What `process` returns: one wrapper per request, in batch order, and the run's stats.
 *
 * @since 0.1.0
 * @category models
 */
export type ProcessedBatch = internal.ProcessedBatch

/**
 * Runs a batch with the RequestManager in context: every request goes through its concurrency,
 * cache, single-flight deduplication, retries and rate limits. Returns one `ResponseWrapper` per
 * request in batch order (whatever order they finish in) plus the run's `BatchStats`. Never fails:
 * a bad item is a `ResponseWrapper.Failure` with its typed error.
 *
 * Accepts a `RequestBatch` or, like the seed's `process_batch`, plain requests; a plain request
 * gets the same id as the same request built with the batch.
 *
 * Invalid items are not sent; they count as failed `InvalidRequestError`s in the returned stats
 * (though not in `RequestManager.snapshot`, which only sees what the manager ran).
 *
 * @since 0.1.0
 * @category processing
 * @example
 * ```ts
 * import { Cache, RequestBatch, RequestManager } from "@fastllm/core"
 * import { OpenAiProvider } from "@fastllm/provider-openai"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * const program = Effect.gen(function*() {
 *   const batch = yield* RequestBatch.make()
 *   for (const n of [1, 2, 3]) {
 *     batch.chat.completions.create({ model: "gpt-4o-mini", messages: [{ role: "user", content: `${n} + ${n}?` }] })
 *   }
 *   const { responses, stats } = yield* RequestBatch.process(batch)
 *   for (const response of responses) console.log(response.requestId, response.text ?? response.error?.message)
 *   return stats
 * })
 *
 * program.pipe(
 *   Effect.provide(RequestManager.layer({ concurrency: 50 }).pipe(
 *     Layer.provide(OpenAiProvider.layerConfig()),
 *     Layer.provide(Cache.memory())
 *   ))
 * )
 * ```
 */
export const process = (
  batch: RequestBatch | Iterable<ApiRequest.Input>
): Effect.Effect<ProcessedBatch, never, RequestManager> =>
  Effect.flatMap(RequestManager, (manager) => processWith(manager, batch))

/**
 * The seed's name for {@link process}.
 *
 * @deprecated Use {@link process}, the one name for processing a batch; this alias goes in the
 * next minor release.
 * @since 0.1.0
 * @category processing
 */
export const processBatch: (
  batch: RequestBatch | Iterable<ApiRequest.Input>
) => Effect.Effect<ProcessedBatch, never, RequestManager> = process

/**
 * {@link process} with a given RequestManager.
 *
 * @since 0.1.0
 * @category processing
 */
export const processWith: (
  manager: RequestManager.Service,
  batch: RequestBatch | Iterable<ApiRequest.Input>
) => Effect.Effect<ProcessedBatch> = internal.processWith
