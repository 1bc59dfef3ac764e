import * as Effect from "effect/Effect"

/**
 * A place in the queue for a slot: `wake` runs once when the slot is handed over; undefined once
 * it has run or the waiter left the queue.
 *
 * @internal
 */
export interface Waiter {
  wake: (() => void) | undefined
}

/**
 * A counting semaphore for the hot path: `withSlot(effect)` runs `effect` holding one of `size`
 * slots, waiting in FIFO order when none is free.
 *
 * Why not `Effect.makeSemaphore`: its `withPermits(1)` costs more CPU per call, paid on every
 * provider attempt (`npx tsx bench/core-overhead.ts`: 64 fibers over 16 slots, 199 µs per call for
 * the semaphore against 25 µs for this, on a loaded 2-core machine; the first measurement, on a
 * quiet one, was +4–5 µs per call against a third of that). It takes one slot at a time and
 * nothing else, which is all the RequestManager needs.
 *
 * @internal
 */
export class Slots {
  private available: number
  private current: number
  private readonly waiters: Array<Waiter> = []
  private head = 0

  constructor(size: number) {
    this.current = Math.max(1, size)
    this.available = this.current
  }

  /** The number of slots now. */
  get size(): number {
    return this.current
  }

  /**
   * Changes the number of slots (adaptive concurrency). Growing wakes waiters at once; shrinking
   * takes effect as calls end (none is interrupted).
   */
  resize(size: number): void {
    const next = Math.max(1, Math.floor(size))
    const delta = next - this.current
    this.current = next
    if (delta < 0) this.available += delta
    else for (let i = 0; i < delta; i++) this.releaseUnsafe()
  }

  /**
   * For a caller that holds slots by hand, from callbacks (providerCall.ts: an attempt as one
   * suspension): takes a free slot on the spot; false when none is free (nothing taken).
   */
  tryTake(): boolean {
    if (this.available <= 0) return false
    this.available--
    return true
  }

  /**
   * Queues `granted` for the next free slot, in FIFO order with `withSlot`'s waiters; the slot is
   * the caller's when `granted` runs. To leave the queue, set the waiter's `wake` to undefined
   * (when it is still defined, no slot was handed over).
   */
  enqueue(granted: () => void): Waiter {
    const waiter: Waiter = { wake: granted }
    this.waiters.push(waiter)
    return waiter
  }

  /** Gives back a slot taken with {@link tryTake} or handed over by {@link enqueue}. */
  release(): void {
    this.releaseUnsafe()
  }

  private releaseUnsafe(): void {
    if (this.available < 0) {
      this.available++ // the slot goes away (the pool was shrunk)
      return
    }
    while (this.head < this.waiters.length) {
      const waiter = this.waiters[this.head++]!
      if (this.head > 1024 && this.head * 2 > this.waiters.length) {
        this.waiters.splice(0, this.head)
        this.head = 0
      }
      const wake = waiter.wake
      if (wake !== undefined) {
        waiter.wake = undefined
        wake() // the slot passes straight to the waiter
        return
      }
    }
    this.available++
  }

  private readonly take: Effect.Effect<void> = Effect.suspend(() => {
    if (this.available > 0) {
      this.available--
      return Effect.void
    }
    return Effect.async<void>((resume) => {
      let granted = false
      const waiter: Waiter = {
        wake: (): void => {
          granted = true
          resume(Effect.void)
        }
      }
      this.waiters.push(waiter)
      return Effect.sync(() => {
        // interrupted while waiting: leave the queue, or give back a slot handed over meanwhile
        if (granted) this.releaseUnsafe()
        else waiter.wake = undefined
      })
    })
  })

  /**
   * Runs `self` holding a slot; the slot is released however `self` ends. A free slot is taken on
   * the spot and given back from the handlers of one `matchCauseEffect` (in the same
   * uninterruptible region), where a `take` effect and an `ensuring` ran before: ~6 fewer effect
   * operations per call (`npx tsx bench/lib/opCount.ts --base e5531d1`).
   */
  withSlot<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> {
    return Effect.uninterruptibleMask((restore) => {
      const held = Effect.matchCauseEffect(restore(self), {
        onFailure: (cause) => {
          this.releaseUnsafe()
          return Effect.failCause(cause)
        },
        onSuccess: (a) => {
          this.releaseUnsafe()
          return Effect.succeed(a)
        }
      })
      if (this.available > 0) {
        this.available--
        return held
      }
      return Effect.flatMap(restore(this.take), () => held)
    })
  }
}
