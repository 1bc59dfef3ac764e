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
 * A result {@link mapOrdered}'s `f` found on the spot (a bad input, a cache hit): the worker takes
 * it as it is and goes on to its next item, with no effect run for it.
 *
 * @internal
 */
export class Ready<B> {
  constructor(readonly value: B) {}
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
 * retries (issue 13). This keeps `workers` fibers alive for the stream's lifetime, and each takes
 * its next item on the spot from the upstream chunk at hand (the worker that finds it used up
 * pulls the next chunk, the others wait for it), as {@link runWindow} does for an array: no
 * producer fiber and no hand-off per item. Departure from a producer feeding workers through a
 * queue (this module's earlier design: a producer wake-up and a worker wake-up per item, and the
 * upstream consumed element by element): `npx tsx bench/lib/cliPerLine.ts --lines 50000 --runs 5
 * --before PATH` (bench/results/issue-18-cli.md). An item that waits in a retry's backoff parks
 * (see {@link parked}): it stops counting against `workers` and a new worker starts the next item,
 * so items in backoff never idle the pool (up to `maxParked` of them; the pool shrinks back as they
 * end).
 *
 * The consumer gets every result that is ready, in order, in one chunk per pull. `f` may answer an
 * item on the spot with a {@link Ready} result (hits and bad inputs, see itemPipeline.ts `start`):
 * the worker takes the next item at once, no effect per answered item.
 *
 * `f` must not fail: the RequestManager turns every error into a `Failure` result. A defect in `f`
 * fails the stream with it.
 *
 * @internal
 */
export const mapOrdered = <A, E, R, B>(
  self: Stream.Stream<A, E, R>,
  ordering: Ordering<B>,
  f: (a: A, index: number) => Effect.Effect<B> | Ready<B>
): Stream.Stream<B, E, R> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const workers = Math.max(1, ordering.workers)
    const maxBytes = Math.max(0, ordering.maxBufferedBytes)
    const maxParked = Math.max(0, ordering.maxParked ?? 16 * workers)
    const parkAfter = Duration.decode(ordering.parkAfter ?? "1 second")
    const sink = ordering.sink
    const scope = yield* Effect.scope
    // pulled by the workers, which run without R in their type: the context is given here
    const upstream = Effect.provide(yield* Stream.toPull(self), yield* Effect.context<R>())

    // The upstream chunk at hand and the next item in it; the index of the next item taken.
    let chunk: ReadonlyArray<A> = []
    let at = 0
    let taken = 0
    // Upstream ended (all taken), or failed; a worker is pulling it.
    let upstreamDone = false
    let pulling = false
    // Why the stream fails: the upstream's error, or a worker's defect.
    let failure: Cause.Cause<E> | undefined = undefined
    // Workers alive, items parked; results finished and not pulled by the consumer (count, bytes).
    let alive = 0
    let parkedItems = 0
    let buffered = 0
    let bufferedBytes = 0
    // Workers waiting for the upstream pull or for room in the buffer.
    let waiters: Array<() => void> = []
    let consumerWaiting: (() => void) | undefined = undefined
    // Results in order, ready for the consumer; results that finished ahead of an earlier item.
    let out: Array<B> = []
    let outBytes = 0
    const ahead = new Map<number, { readonly value: B; readonly bytes: number }>()
    let nextOut = 0

    const full = () => buffered > 0 && bufferedBytes >= maxBytes
    const wakeWaiters = () => {
      if (waiters.length === 0) return
      const woken = waiters
      waiters = []
      for (const wake of woken) wake()
    }
    const wakeConsumer = () => {
      const wake = consumerWaiting
      if (wake !== undefined) {
        consumerWaiting = undefined
        wake()
      }
    }
    const wait: Effect.Effect<void> = Effect.async<void>((resume) => {
      const wake = () => resume(Effect.void)
      waiters.push(wake)
      return Effect.sync(() => {
        const i = waiters.indexOf(wake)
        if (i >= 0) waiters.splice(i, 1)
      })
    })
    // Everything taken is finished and handed over: the stream ends (or fails) once `out` is pulled.
    const finished = () => (upstreamDone || failure !== undefined) && nextOut === taken

    const complete = (index: number, value: B) => {
      if (sink !== undefined) {
        sink(value)
        nextOut++
      } else {
        const bytes = ordering.sizeOf(value)
        buffered++
        bufferedBytes += bytes
        if (index === nextOut) {
          out.push(value)
          outBytes += bytes
          nextOut++
          for (let next = ahead.get(nextOut); next !== undefined; next = ahead.get(nextOut)) {
            ahead.delete(nextOut)
            out.push(next.value)
            outBytes += next.bytes
            nextOut++
          }
        } else ahead.set(index, { value, bytes })
      }
      if (out.length > 0 || finished()) wakeConsumer()
    }

    const pulled: Effect.Effect<void> = Effect.matchCause(upstream, {
      onFailure: (cause) => {
        pulling = false
        const error = Cause.flipCauseOption(cause)
        if (Option.isNone(error)) upstreamDone = true
        else failure ??= error.value
        wakeWaiters()
        if (finished()) wakeConsumer()
      },
      onSuccess: (next) => {
        pulling = false
        chunk = Chunk.toReadonlyArray(next)
        at = 0
        wakeWaiters()
      }
    })

    // A worker takes items until there are none, or the pool has more workers than it needs (a
    // parked item ended).
    const worker: Effect.Effect<void> = Effect.suspend(() => {
      if (failure !== undefined || alive - parkedItems > workers) return Effect.void
      if (full()) return Effect.zipRight(wait, worker)
      if (at < chunk.length) {
        const a = chunk[at++]!
        const index = taken++
        const started = f(a, index)
        if (started instanceof Ready) {
          complete(index, started.value)
          return worker
        }
        return Effect.flatMap(started, (b) => {
          complete(index, b)
          return worker
        })
      }
      if (upstreamDone) return Effect.void
      if (pulling) return Effect.zipRight(wait, worker)
      pulling = true
      return Effect.zipRight(pulled, worker)
    })
    const exited = (exit: Exit.Exit<void>) =>
      Effect.sync(() => {
        alive--
        if (exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)) {
          failure ??= exit.cause
          wakeWaiters()
          wakeConsumer()
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

    const pull: Effect.Effect<Chunk.Chunk<B>, Option.Option<E>> = Effect.suspend(() => {
      if (out.length > 0) {
        const items = out
        buffered -= items.length
        bufferedBytes -= outBytes
        out = []
        outBytes = 0
        wakeWaiters()
        return Effect.succeed(Chunk.unsafeFromArray(items))
      }
      if (failure !== undefined) return Effect.failCause(Cause.map(failure, Option.some))
      if (finished()) return Effect.fail(Option.none())
      return Effect.flatMap(
        Effect.async<void>((resume) => {
          consumerWaiting = () => resume(Effect.void)
          return Effect.sync(() => {
            consumerWaiting = undefined
          })
        }),
        () => pull
      )
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
