import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import type * as Exit from "effect/Exit"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

type Signal<B, E> =
  | { readonly _tag: "Item"; readonly value: B; readonly bytes: number }
  | { readonly _tag: "End" }
  | { readonly _tag: "Fail"; readonly cause: Cause.Cause<E> }

/**
 * Where an item that may wait a long time (a retry's backoff) can step aside: `park(effect, when)`
 * runs `effect`, and once it has run for the pool's `parkAfter` (1 s by default) and `when()` still
 * says yes, the item stops counting against the workers, so another item starts meanwhile.
 *
 * Only after a while, and only when `when()` agrees: a short backoff costs little, and an item
 * that steps aside during a burst of refusals or while the server is down would only send one more
 * request into it (the RequestManager passes "the recent calls mostly succeeded").
 *
 * @internal
 */
export interface Parking {
  readonly park: <A, E, R>(effect: Effect.Effect<A, E, R>, when: () => boolean) => Effect.Effect<A, E, R>
}

/**
 * The parking of the {@link mapOrdered} running the current item, if any.
 *
 * @internal
 */
export const currentParking: FiberRef.FiberRef<Parking | undefined> = FiberRef.unsafeMake<Parking | undefined>(undefined)

/**
 * Runs `effect` with {@link Parking} when the current fiber is one of {@link mapOrdered}'s workers,
 * else as it is. Only called on slow paths (after a failed attempt), so reading the FiberRef costs
 * nothing on the happy path.
 *
 * @internal
 */
export const parked = <A, E, R>(effect: Effect.Effect<A, E, R>, when: () => boolean = () => true): Effect.Effect<A, E, R> =>
  Effect.flatMap(FiberRef.get(currentParking), (parking) => parking === undefined ? effect : parking.park(effect, when))

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
  /** Items parked at once (in backoff, see {@link parked}) besides the `workers`. Default 16 × workers. */
  readonly maxParked?: number | undefined
  /** How long an item waits before it parks. Default 1 second. */
  readonly parkAfter?: Duration.DurationInput | undefined
  readonly maxBufferedBytes: number
  readonly sizeOf: (b: B) => number
  /**
   * Where each result goes as soon as its item ends, in any order, instead of the output stream
   * (which then only ends, or fails): for a caller that collects every result by itself (`run`).
   * No reorder buffer and no hand-off to the consumer per item: at 1,000 in flight that hand-off
   * woke the consumer once per item (`npx tsx bench/lib/opCount.ts --base e5531d1 --concurrency
   * 1000 --latency 20 --window default`).
   */
  readonly sink?: ((b: B) => void) | undefined
}

/**
 * The {@link Parking} a driver gives its workers: an item still in `parked`'s effect after
 * `parkAfter`, with its `when()` true, asks `stepAside`, which counts it as parked and returns what
 * to run then (a new worker, or nothing), or undefined when no more may park; `back` is called
 * when a parked item ends.
 */
const parkingIn = (
  scope: Scope.Scope,
  parkAfter: Duration.Duration,
  stepAside: () => Effect.Effect<void> | undefined,
  back: () => void
): Parking => ({
  park: (effect, when) =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        let isParked = false
        const step = Effect.suspend(() => {
          if (!when()) return Effect.void
          const then = stepAside()
          if (then === undefined) return Effect.void
          isParked = true
          return then
        })
        // forked interruptible (`restore`): the timer, and a worker it starts, must not inherit the mask
        const timer = yield* Effect.forkIn(restore(Effect.delay(step, parkAfter)), scope)
        return yield* restore(effect).pipe(Effect.ensuring(Effect.zipRight(
          Fiber.interrupt(timer),
          Effect.sync(() => {
            if (isParked) back()
          })
        )))
      })
    )
})

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
 * to them through a queue. An item that waits in a retry's backoff parks (see {@link parked}): it
 * stops counting against `workers` and a new worker starts the next item, so items in backoff
 * never idle the pool (up to `maxParked` of them; the pool shrinks back as they end).
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
    const maxParked = Math.max(0, ordering.maxParked ?? 16 * workers)
    const parkAfter = Duration.decode(ordering.parkAfter ?? "1 second")
    const scope = yield* Effect.scope
    // items taken from upstream and not finished (parked ones included); results finished and not
    // yet pulled downstream; worker fibers alive; items parked
    let running = 0
    let bufferedBytes = 0
    let buffered = 0
    let alive = 0
    let parkedItems = 0
    let producerWaiting: (() => void) | undefined = undefined
    const full = () => running - parkedItems >= workers || (buffered > 0 && bufferedBytes >= maxBytes)
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
    // Hand-offs without Effect's Queue: items waiting for a worker, workers waiting for an item,
    // signals waiting for the consumer. With 2,000 workers (concurrency 1,000), a Queue.take per
    // item (a Deferred each, and the takers' queue walked per offer) cost several times the whole
    // request: `npx tsx bench/lib/manyInFlight.ts 1000 20` went from 838 to 419 µs of
    // CPU per request (1,318 → 2,819 req/s) with these arrays.
    const pending: Array<readonly [A, number]> = []
    let pendingHead = 0
    const idle: Array<{ wake: ((item: readonly [A, number]) => void) | undefined }> = []
    let out: Array<Signal<B, E>> = []
    let consumerWaiting: (() => void) | undefined = undefined
    const emit = (signals: ReadonlyArray<Signal<B, E>>) => {
      for (const signal of signals) out.push(signal)
      const wake = consumerWaiting
      if (wake !== undefined && out.length > 0) {
        consumerWaiting = undefined
        wake()
      }
    }
    const handOff = (item: readonly [A, number]) => {
      while (idle.length > 0) {
        const waiter = idle.pop()!
        const wake = waiter.wake
        if (wake !== undefined) {
          waiter.wake = undefined
          wake(item)
          return
        }
      }
      pending.push(item)
    }
    const take: Effect.Effect<readonly [A, number]> = Effect.suspend(() => {
      if (pendingHead < pending.length) {
        const item = pending[pendingHead]!
        pending[pendingHead++] = undefined as never
        if (pendingHead === pending.length) {
          pending.length = 0
          pendingHead = 0
        }
        return Effect.succeed(item)
      }
      return Effect.async<readonly [A, number]>((resume) => {
        const waiter: { wake: ((item: readonly [A, number]) => void) | undefined } = {
          wake: (item) => resume(Effect.succeed(item))
        }
        idle.push(waiter)
        return Effect.sync(() => {
          waiter.wake = undefined // interrupted (the stream ends): skipped by handOff
        })
      })
    })
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

    const sink = ordering.sink
    const complete = (index: number, value: B) =>
      Effect.suspend(() => {
        if (sink !== undefined) {
          running--
          sink(value)
          nextEmit++
          wakeProducer()
          const end = endIfDone()
          if (end.length > 0) emit(end)
          return Effect.void
        }
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
        if (signals.length > 0) emit(signals)
        return Effect.void
      })

    // A worker takes items until the pool has more workers than it needs (a parked item ended).
    const worker: Effect.Effect<void> = take.pipe(
      Effect.flatMap(([a, index]) => Effect.flatMap(f(a, index), (b) => complete(index, b))),
      Effect.zipRight(Effect.suspend(() => {
        if (alive - parkedItems > workers) {
          alive--
          return Effect.void
        }
        return worker
      }))
    )
    const parking = parkingIn(scope, parkAfter, () => {
      if (parkedItems >= maxParked) return undefined
      parkedItems++
      wakeProducer() // the item no longer counts: room for one more
      return alive - parkedItems < workers ? spawn : Effect.void
    }, () => {
      parkedItems--
    })
    const spawn: Effect.Effect<void> = Effect.suspend(() => {
      alive++
      return Effect.asVoid(Effect.forkIn(Effect.locally(worker, currentParking, parking), scope))
    })
    for (let i = 0; i < workers; i++) yield* spawn

    let index = 0
    yield* self.pipe(
      Stream.runForEach((a) =>
        Effect.zipRight(space, Effect.sync(() => {
          running++
          handOff([a, index++] as const)
        }))
      ),
      Effect.matchCauseEffect({
        onFailure: (cause) => Effect.sync(() => emit([{ _tag: "Fail", cause }])),
        onSuccess: () =>
          Effect.sync(() => {
            total = index
            emit(endIfDone())
          })
      }),
      Effect.forkScoped
    )

    let finished = false
    const pull: Effect.Effect<Chunk.Chunk<B>, Option.Option<E>> = Effect.suspend(() => {
      if (finished) return Effect.fail(Option.none())
      if (out.length === 0) {
        return Effect.flatMap(
          Effect.async<void>((resume) => {
            consumerWaiting = () => resume(Effect.void)
            return Effect.sync(() => {
              consumerWaiting = undefined
            })
          }),
          () => pull
        )
      }
      const signals = out
      out = []
      return Effect.suspend(() => {
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

/**
 * What {@link runWindow}'s source gives a worker: an item, "nothing yet, yield and ask again"
 * (the source did a bounded amount of work of its own, such as answering cache hits), or the end.
 *
 * @internal
 */
export type Next<A extends object> = A | "yield" | "end"

/**
 * {@link mapOrdered} for a caller that has its items at hand (`run`: an array) and collects each
 * result by itself: `workers` fibers each take the next item from `next` synchronously, run `f`
 * and give the result to `sink`, with the same parking (items in a long backoff step aside, see
 * {@link parked}). No producer fiber, no hand-off queue and no output stream: where mapOrdered
 * woke a producer and an idle worker per item (an `Effect.async` each), a worker here takes its
 * next item on the spot (`npx tsx bench/lib/opCount.ts --base e5531d1`, and
 * `npx tsx bench/lib/libSteps.ts --base e5531d1 --only http,late --concurrency 1000 --latency 20
 * --window default`).
 *
 * `f` must not fail. A defect in a worker fails the whole run with it.
 *
 * @internal
 */
export const runWindow = <A extends object, B>(
  next: () => Next<A>,
  ordering: Pick<Ordering<B>, "workers" | "maxParked" | "parkAfter">,
  f: (a: A) => Effect.Effect<B>,
  sink: (b: B) => void
): Effect.Effect<void> =>
  Effect.scoped(Effect.gen(function*() {
    const workers = Math.max(1, ordering.workers)
    const maxParked = Math.max(0, ordering.maxParked ?? 16 * workers)
    const parkAfter = Duration.decode(ordering.parkAfter ?? "1 second")
    const scope = yield* Effect.scope
    let alive = 0
    let parkedItems = 0
    let failure: Cause.Cause<never> | undefined = undefined
    let wakeMain: (() => void) | undefined = undefined
    // read through a function: TypeScript narrows the `let` to its initial value otherwise
    const failed = (): Cause.Cause<never> | undefined => failure
    const worker: Effect.Effect<void> = Effect.suspend(() => {
      // more workers than needed (a parked item ended): this one retires
      if (failure !== undefined || alive - parkedItems > workers) return Effect.void
      const taken = next()
      if (taken === "end") return Effect.void
      if (taken === "yield") return Effect.zipRight(Effect.yieldNow(), worker)
      return Effect.flatMap(f(taken), (b) => {
        sink(b)
        return worker
      })
    })
    const exited = (exit: Exit.Exit<void>) =>
      Effect.sync(() => {
        alive--
        if (exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)) failure ??= exit.cause
        if (alive === 0 || failure !== undefined) {
          const wake = wakeMain
          wakeMain = undefined
          wake?.()
        }
      })
    const parking = parkingIn(scope, parkAfter, () => {
      if (parkedItems >= maxParked) return undefined
      parkedItems++
      return alive - parkedItems < workers ? spawn : Effect.void
    }, () => {
      parkedItems--
    })
    const spawn: Effect.Effect<void> = Effect.suspend(() => {
      alive++
      return Effect.asVoid(Effect.forkIn(Effect.onExit(Effect.locally(worker, currentParking, parking), exited), scope))
    })
    for (let i = 0; i < workers; i++) yield* spawn
    yield* Effect.async<void>((resume) => {
      if (alive === 0 || failure !== undefined) return resume(Effect.void)
      wakeMain = () => resume(Effect.void)
    })
    const cause = failed()
    if (cause !== undefined) return yield* Effect.failCause(cause)
  }))
