import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"

type Signal<B, E> =
  | { readonly _tag: "Item"; readonly value: B; readonly bytes: number }
  | { readonly _tag: "End" }
  | { readonly _tag: "Fail"; readonly cause: Cause.Cause<E> }

/**
 * How {@link mapOrdered} bounds its work: `workers` items in progress at once, and the results
 * that finished but wait for an earlier item (or for the consumer) bounded by their estimated
 * bytes, not by a count: an item sleeping in backoff does not stall the items behind it until the
 * buffer holds `maxBufferedBytes`.
 *
 * @internal
 */
export interface Ordering<B> {
  readonly workers: number
  readonly maxBufferedBytes: number
  readonly sizeOf: (b: B) => number
}

/**
 * `Stream.mapEffect(f, { concurrency: workers })` with the same guarantees (results in input
 * order, a new item starts as soon as one ends) but without a fiber fork per element, and with the
 * reorder buffer bounded by bytes instead of by the number of items started.
 *
 * Why not `Stream.mapEffect`: its ordered mode forks a fiber per element and races each one
 * against an error signal (three forks per element): ~70 µs of CPU per element in the first
 * measurement, more than a whole HTTP request (`npx tsx bench/core-overhead.ts`: 103 µs for
 * `Stream.mapEffect` against 30 µs for this, window 128, on a loaded 2-core machine). Its window
 * also counts finished items waiting behind a slow head item, which is what stalled batches with
 * retries (issue 13). This keeps `workers` fibers alive for the stream's lifetime and hands items
 * to them through a queue.
 *
 * `f` must not fail: the RequestManager turns every error into a `Failure` result first.
 *
 * @internal
 */
export const mapOrdered = <A, E, R, B>(
  self: Stream.Stream<A, E, R>,
  ordering: Ordering<B>,
  f: (a: A, index: number) => Effect.Effect<B>
): Stream.Stream<B, E, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const workers = Math.max(1, ordering.workers)
    const maxBytes = Math.max(0, ordering.maxBufferedBytes)
    // items taken from upstream and not finished; results finished and not yet pulled downstream
    let running = 0
    let bufferedBytes = 0
    let buffered = 0
    let producerWaiting: (() => void) | undefined = undefined
    const full = () => running >= workers || (buffered > 0 && bufferedBytes >= maxBytes)
    const space: Effect.Effect<void> = Effect.suspend(() =>
      !full() ? Effect.void : Effect.async<void>((resume) => {
        producerWaiting = () => resume(Effect.void)
        return Effect.sync(() => {
          producerWaiting = undefined
        })
      })
    )
    const wakeProducer = () => {
      const wake = producerWaiting
      if (wake !== undefined && !full()) {
        producerWaiting = undefined
        wake()
      }
    }
    const input = yield* Queue.bounded<readonly [A, number]>(workers)
    const output = yield* Queue.unbounded<Signal<B, E>>()
    const waiting = new Map<number, { readonly value: B; readonly bytes: number }>()
    let nextEmit = 0
    let total = -1
    let endSent = false

    const endIfDone = (): ReadonlyArray<Signal<B, E>> => {
      if (!endSent && total >= 0 && nextEmit === total) {
        endSent = true
        return [{ _tag: "End" }]
      }
      return []
    }

    const complete = (index: number, value: B) =>
      Effect.suspend(() => {
        const bytes = ordering.sizeOf(value)
        running--
        buffered++
        bufferedBytes += bytes
        waiting.set(index, { value, bytes })
        const signals: Array<Signal<B, E>> = []
        for (let next = waiting.get(nextEmit); next !== undefined; next = waiting.get(nextEmit)) {
          waiting.delete(nextEmit)
          signals.push({ _tag: "Item", value: next.value, bytes: next.bytes })
          nextEmit++
        }
        signals.push(...endIfDone())
        wakeProducer()
        return signals.length === 0 ? Effect.void : Queue.offerAll(output, signals)
      })

    const worker = Queue.take(input).pipe(
      Effect.flatMap(([a, index]) => Effect.flatMap(f(a, index), (b) => complete(index, b))),
      Effect.forever
    )
    for (let i = 0; i < workers; i++) yield* Effect.forkScoped(worker)

    let index = 0
    yield* self.pipe(
      Stream.runForEach((a) =>
        Effect.zipRight(space, Effect.suspend(() => {
          running++
          return Queue.offer(input, [a, index++] as const)
        }))
      ),
      Effect.matchCauseEffect({
        onFailure: (cause) => Queue.offer(output, { _tag: "Fail", cause }),
        onSuccess: () =>
          Effect.suspend(() => {
            total = index
            return Queue.offerAll(output, endIfDone())
          })
      }),
      Effect.forkScoped
    )

    let finished = false
    const pull: Effect.Effect<Chunk.Chunk<B>, Option.Option<E>> = Effect.suspend(() => {
      if (finished) return Effect.fail(Option.none())
      return Effect.flatMap(Queue.takeBetween(output, 1, 4096), (signals) => {
        const items: Array<B> = []
        let bytes = 0
        for (const signal of signals) {
          if (signal._tag === "Item") {
            items.push(signal.value)
            bytes += signal.bytes
          } else if (signal._tag === "End") finished = true
          else return Effect.failCause(Cause.map(signal.cause, Option.some))
        }
        if (items.length === 0) return finished ? Effect.fail(Option.none()) : Effect.succeed(Chunk.empty<B>())
        buffered -= items.length
        bufferedBytes -= bytes
        wakeProducer()
        return Effect.succeed(Chunk.unsafeFromArray(items))
      })
    })
    return Stream.repeatEffectChunkOption(pull)
  }))
