import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as ApiRequest from "../ApiRequest.js"
import type { ItemResult } from "../ItemResult.js"
import * as RequestKey from "../RequestKey.js"
import { type Answer, toResult } from "./answer.js"
import type { ItemCache } from "./itemCache.js"
import { mapOrdered, type Next, type Ordering, Ready, runWindow } from "./orderedWindow.js"
import { recordItem } from "./metrics.js"
import * as SingleFlight from "./singleFlight.js"
import type { Tracing } from "./tracing.js"
import type { Counters } from "./tracker.js"

/** A miss that ends without an answer (failure, interruption) releases the cache's claim on the key. */
const releaseUnlessAnswered = (
  cache: ItemCache,
  key: string,
  counters: Counters,
  answer: Effect.Effect<Answer>
): Effect.Effect<Answer> => {
  const release = cache.release
  return release === undefined
    ? answer
    : Effect.onExit(answer, (exit) =>
      exit._tag === "Success" && exit.value._tag === "Success" ? Effect.void : release(key, counters))
}

/** @internal */
export interface Options {
  /** The provider's name, part of every request key. */
  readonly providerName: string
  /** Where answers are looked up first; undefined: no cache. */
  readonly cache: ItemCache | undefined
  /** The provider side of a key: retries, breaker, cache write (providerCall.ts). */
  readonly callProvider: (key: string, request: ApiRequest.ApiRequest, counters: Counters) => Effect.Effect<Answer>
  /** A span per item when a tracer is installed (tracing.ts). */
  readonly tracing: Tracing
}

/** An item that decoded: its request, key and kind. */
class Prepared {
  constructor(readonly request: ApiRequest.ApiRequest, readonly key: string, readonly kind: ApiRequest.Kind) {}
}

/** What the cache said on the spot: a hit's result, a definite miss, or "ask `get`". */
type Lookup = ItemResult | "miss" | "ask"

/**
 * The per-item engine: one item start to end (`execute`: decode → key → single-flight → cache →
 * provider → result, counted in `counters` and the metrics), and `run`'s batch (`runAll`). Never
 * fails: every error becomes a `Failure` result.
 *
 * @internal
 */
export interface ItemPipeline {
  readonly execute: (input: unknown, index: number, kind: ApiRequest.Kind | undefined, counters: Counters) => Effect.Effect<ItemResult>
  /**
   * `execute` for `mapOrdered`'s workers (`stream`, `streamWith`): with a synchronous cache
   * (`unsafeGet`) and spans off (`traced` false), a bad input or a cache hit answered on the spot
   * as a `Ready` result, the rest as the effect that resolves it; else `execute`. `now`: the
   * clock's time, for the cache's `unsafeGet`.
   */
  readonly start: (
    input: unknown,
    index: number,
    counters: Counters,
    traced: boolean,
    now: () => number
  ) => Effect.Effect<ItemResult> | Ready<ItemResult>
  /**
   * `run`'s items, results in input order: what `mapOrdered(items, ordering, execute)` does, with
   * hits and bad inputs answered without a fiber or an effect on the way in.
   */
  readonly runAll: (
    items: ReadonlyArray<unknown>,
    ordering: Ordering<ItemResult>,
    counters: Counters
  ) => Effect.Effect<Array<ItemResult>>
}

/** An item `runAll` hands to the ordered driver: prepared (spans off) or as it came (spans on). */
class Pending {
  constructor(
    readonly index: number,
    readonly input: unknown,
    readonly item: Prepared | undefined,
    readonly missed: boolean
  ) {}
}

/** Items `runAll` takes per step; between steps other fibers (progress, interruption) may run. */
const itemsPerPull = 256

/** @internal */
export const make = (options: Options): ItemPipeline => {
  const { cache, callProvider, providerName, tracing } = options
  const flights = SingleFlight.make<Answer>()
  const unsafeGet = cache?.unsafeGet
  const getMany = cache?.getMany

  /** The provider, releasing a claiming cache's key when no answer comes. */
  const miss = (key: string, request: ApiRequest.ApiRequest, counters: Counters): Effect.Effect<Answer> =>
    cache === undefined
      ? callProvider(key, request, counters)
      : releaseUnlessAnswered(cache, key, counters, callProvider(key, request, counters))

  /** The cache, then the provider. Run once per key in flight. */
  const compute = (key: string, request: ApiRequest.ApiRequest, counters: Counters): Effect.Effect<Answer> =>
    cache === undefined
      ? callProvider(key, request, counters)
      : Effect.flatMap(cache.get(key, counters), (hit) =>
        Option.isSome(hit) && hit.value._tag === request._tag
          ? Effect.succeed<Answer>({ _tag: "Success", response: hit.value, fromCache: true, attempts: 0 })
          : miss(key, request, counters))

  const finish = (result: ItemResult, counters: Counters): ItemResult => {
    counters.finished(result)
    recordItem(result)
    return result
  }

  /** Decodes and keys an item; an input that does not decode is finished here as a `Failure`. */
  const prepare = (input: unknown, index: number, kind: ApiRequest.Kind | undefined, counters: Counters): Prepared | ItemResult => {
    const decoded = ApiRequest.decode(input, kind)
    if (Either.isLeft(decoded)) {
      return finish({ _tag: "Failure", index, key: undefined, kind, error: decoded.left, attempts: 0 }, counters)
    }
    const request = decoded.right
    return new Prepared(request, RequestKey.make(providerName, request), request._tag === "Chat" ? "chat" : "embedding")
  }

  /**
   * A cache hit answered on the spot (the cache's `unsafeGet`), with the result `compute` would
   * give it. A key in flight is left to single-flight, so a duplicate is still `deduplicated`.
   * Departure from the effect path (`compute` inside `flights.run`): no fiber, effect or flight
   * entry per hit; `npx tsx bench/lib/libSteps.ts --base 4fb4378 --only hit` measures it.
   */
  const lookupNow = (item: Prepared, index: number, counters: Counters, now: number): Lookup => {
    if (unsafeGet === undefined || flights.has(item.key)) return "ask"
    return answerFound(item, index, counters, unsafeGet(item.key, now))
  }

  /**
   * What a cache lookup found, as `compute` would answer it: a hit of the request's kind finishes
   * the item here; none (or the other kind) is a miss; undefined leaves it to `get`.
   */
  const answerFound = (
    item: Prepared,
    index: number,
    counters: Counters,
    found: Option.Option<ApiRequest.ApiResponse> | undefined
  ): Lookup => {
    if (found === undefined) return "ask"
    if (Option.isNone(found) || found.value._tag !== item.request._tag) return "miss"
    const answer: Answer = { _tag: "Success", response: found.value, fromCache: true, attempts: 0 }
    return finish(toResult(index, item.key, item.kind, answer, false), counters)
  }

  /** Single-flight over the cache and the provider; `missed`: the cache already said no. */
  const resolve = (item: Prepared, index: number, counters: Counters, missed: boolean): Effect.Effect<ItemResult> =>
    flights.runWith(
      item.key,
      missed ? miss(item.key, item.request, counters) : compute(item.key, item.request, counters),
      (value, shared) => finish(toResult(index, item.key, item.kind, value, shared), counters)
    )

  const execute: ItemPipeline["execute"] = (input, index, kind, counters) =>
    Effect.suspend(() => {
      const item = prepare(input, index, kind, counters)
      if (!(item instanceof Prepared)) return Effect.succeed(item)
      return tracing.item(
        item.request,
        unsafeGet === undefined
          ? resolve(item, index, counters, false)
          : Effect.clockWith((clock) => {
            const found = lookupNow(item, index, counters, clock.unsafeCurrentTimeMillis())
            return typeof found === "object" ? Effect.succeed(found) : resolve(item, index, counters, found === "miss")
          })
      )
    })

  // Departure from `execute` (an effect per item, hits and bad inputs included): what `runAll` does
  // for `run`, for the streamed path. A warm rerun through `streamWith` 6.48 → 4.82 µs per item:
  // `node --conditions=@fastllm/source --import tsx bench/lib/streamSteps.ts --base c51aef8 --only hit`.
  // Without a synchronous cache the item goes through `execute` as before: resolving it from here
  // measured ~15% slower per miss (`... streamSteps.ts --base c51aef8 --only miss`).
  const start: ItemPipeline["start"] = (input, index, counters, traced, now) => {
    if (traced || unsafeGet === undefined) return execute(input, index, undefined, counters)
    const item = prepare(input, index, undefined, counters)
    if (!(item instanceof Prepared)) return new Ready(item)
    const found = lookupNow(item, index, counters, now())
    return typeof found === "object" ? new Ready(found) : resolve(item, index, counters, found === "miss")
  }

  const runAll: ItemPipeline["runAll"] = (items, ordering, counters) =>
    Effect.flatMap(tracing.enabled, (traced) =>
      Effect.clockWith((clock) =>
        Effect.suspend(() => {
          const results: Array<ItemResult> = new Array(items.length)
          const work = (pending: Pending) =>
            pending.item === undefined
              ? execute(pending.input, pending.index, undefined, counters)
              : resolve(pending.item, pending.index, counters, pending.missed)
          const collect = (result: ItemResult) => {
            results[result.index] = result
          }
          if (getMany === undefined) {
            // No network cache: each worker of the window takes its next item on the spot, hits
            // (spans off) and bad inputs answered on the way, at most `itemsPerPull` per take.
            // Departure from `mapOrdered(items, execute)` (a producer fiber, a hand-off and a
            // wake-up per item): `npx tsx bench/lib/libSteps.ts --base e5531d1 --only http,late
            // --concurrency 1000 --latency 20 --window default`, and `--only hit` for the hits.
            let at = 0
            const source = (): Next<Pending> => {
              const end = Math.min(items.length, at + itemsPerPull)
              while (at < end) {
                const index = at++
                if (traced) return new Pending(index, items[index], undefined, false)
                const item = prepare(items[index], index, undefined, counters)
                const found = item instanceof Prepared ? lookupNow(item, index, counters, clock.unsafeCurrentTimeMillis()) : item
                if (typeof found === "object") results[index] = found
                else return new Pending(index, items[index], item as Prepared, found === "miss")
              }
              return at >= items.length ? "end" : "yield"
            }
            return Effect.as(runWindow(source, ordering, work, collect), results)
          }
          let next = 0
          let asks: Array<Pending> = []
          // Items are taken in input order, `itemsPerPull` at a time: a hit (with spans off) or an
          // input that does not decode is answered right here, without a fiber or an effect; the
          // rest goes on to the ordered driver. Departure from `mapOrdered(items, execute)`:
          // `npx tsx bench/lib/libSteps.ts --base 4fb4378 --only hit` measures it.
          const pull: Effect.Effect<Chunk.Chunk<Pending>, Option.Option<never>> = Effect.suspend(() => {
            if (next >= items.length) return Effect.fail(Option.none())
            const pending: Array<Pending> = []
            const end = Math.min(items.length, next + itemsPerPull)
            for (; next < end; next++) {
              const index = next
              if (traced) {
                pending.push(new Pending(index, items[index], undefined, false))
                continue
              }
              const item = prepare(items[index], index, undefined, counters)
              const found = item instanceof Prepared ? lookupNow(item, index, counters, clock.unsafeCurrentTimeMillis()) : item
              if (typeof found === "object") results[index] = found
              else if (found === "ask" && getMany !== undefined && !flights.has((item as Prepared).key)) {
                asks.push(new Pending(index, items[index], item as Prepared, false))
              } else pending.push(new Pending(index, items[index], item as Prepared, found === "miss"))
            }
            if (asks.length === 0 || getMany === undefined) return Effect.succeed(Chunk.unsafeFromArray(pending))
            // A network cache (Redis): the chunk's lookups in one round trip, hits answered here.
            const asked = asks
            asks = []
            const now = clock.unsafeCurrentTimeMillis()
            return Effect.map(getMany(asked.map((ask) => ask.item!.key), now), (found) => {
              for (let i = 0; i < asked.length; i++) {
                const ask = asked[i]!
                const item = ask.item!
                const answered = answerFound(item, ask.index, counters, found[i])
                if (typeof answered === "object") results[ask.index] = answered
                else pending.push(new Pending(ask.index, ask.input, item, answered === "miss"))
              }
              return Chunk.unsafeFromArray(pending)
            })
          })
          const driven = mapOrdered(
            Stream.repeatEffectChunkOption(pull),
            {
              ...ordering,
              maxBufferedBytes: Number.POSITIVE_INFINITY,
              sizeOf: () => 0,
              sink: collect
            },
            work
          )
          return Effect.as(Stream.runDrain(driven), results)
        })))

  return { execute, runAll, start }
}
