import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"

type Signal<B, E> =
  | { readonly _tag: "Item"; readonly value: B }
  | { readonly _tag: "End" }
  | { readonly _tag: "Fail"; readonly cause: Cause.Cause<E> }

/**
 * `Stream.mapEffect(f, { concurrency: window })` with the same guarantees (results in input order,
 * at most `window` items between the upstream and the consumer, a new item starts as soon as one
 * ends) but without a fiber fork per element.
 *
 * Why not `Stream.mapEffect`: its ordered mode forks a fiber per element and races each one
 * against an error signal (three forks per element): ~70 µs of CPU per element in the first
 * measurement, more than a whole HTTP request (`npx tsx bench/core-overhead.ts`: 103 µs for
 * `Stream.mapEffect` against 30 µs for this, window 128, on a loaded 2-core machine). This keeps
 * `window` worker fibers alive for the stream's lifetime and hands items to them through a queue.
 *
 * `f` must not fail: the RequestManager turns every error into a `Failure` result first.
 *
 * @internal
 */
export const mapOrdered = <A, E, R, B>(
  self: Stream.Stream<A, E, R>,
  window: number,
  f: (a: A, index: number) => Effect.Effect<B>
): Stream.Stream<B, E, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const size = Math.max(1, window)
    // items taken from upstream and not yet handed downstream; the single producer waits at `size`
    let ahead = 0
    let producerWaiting: (() => void) | undefined = undefined
    const space: Effect.Effect<void> = Effect.suspend(() =>
      ahead < size ? Effect.void : Effect.async<void>((resume) => {
        producerWaiting = () => resume(Effect.void)
        return Effect.sync(() => {
          producerWaiting = undefined
        })
      })
    )
    const handedDownstream = (n: number) => {
      ahead -= n
      const wake = producerWaiting
      if (wake !== undefined && ahead < size) {
        producerWaiting = undefined
        wake()
      }
    }
    const input = yield* Queue.bounded<readonly [A, number]>(size)
    const output = yield* Queue.unbounded<Signal<B, E>>()
    const slots = new Array<B | undefined>(size)
    const ready = new Array<boolean>(size).fill(false)
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
        slots[index % size] = value
        ready[index % size] = true
        const signals: Array<Signal<B, E>> = []
        while (ready[nextEmit % size] === true) {
          const slot = nextEmit % size
          signals.push({ _tag: "Item", value: slots[slot] as B })
          ready[slot] = false
          slots[slot] = undefined
          nextEmit++
        }
        signals.push(...endIfDone())
        return signals.length === 0 ? Effect.void : Queue.offerAll(output, signals)
      })

    const worker = Queue.take(input).pipe(
      Effect.flatMap(([a, index]) => Effect.flatMap(f(a, index), (b) => complete(index, b))),
      Effect.forever
    )
    for (let i = 0; i < size; i++) yield* Effect.forkScoped(worker)

    let index = 0
    yield* self.pipe(
      Stream.runForEach((a) =>
        Effect.zipRight(space, Effect.suspend(() => {
          ahead++
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
        for (const signal of signals) {
          if (signal._tag === "Item") items.push(signal.value)
          else if (signal._tag === "End") finished = true
          else return Effect.failCause(Cause.map(signal.cause, Option.some))
        }
        if (items.length === 0) return finished ? Effect.fail(Option.none()) : Effect.succeed(Chunk.empty<B>())
        handedDownstream(items.length)
        return Effect.succeed(Chunk.unsafeFromArray(items))
      })
    })
    return Stream.repeatEffectChunkOption(pull)
  }))
