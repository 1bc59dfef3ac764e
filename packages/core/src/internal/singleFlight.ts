import * as Effect from "effect/Effect"

/**
 * Single-flight: the first caller with a key computes; callers with the same key that arrive
 * while it runs wait for its value instead of computing again. If the computing caller is
 * interrupted, the first waiter takes over.
 *
 * A plain waiter list instead of a `Deferred`: the leader pays nothing unless someone waits.
 *
 * @internal
 */
export interface SingleFlight<A> {
  /** Runs `compute` for `key`, or waits for the run in flight; `shared` says which happened. */
  readonly run: (key: string, compute: Effect.Effect<A>) => Effect.Effect<{ readonly value: A; readonly shared: boolean }>
  /**
   * {@link run} with the outcome given to `done` (value, shared) instead of an object: for the
   * per-item path, one uninterruptible `matchCauseEffect` instead of an `onExit` and two `map`s
   * (`npx tsx bench/lib/opCount.ts --base e5531d1`).
   */
  readonly runWith: <B>(key: string, compute: Effect.Effect<A>, done: (value: A, shared: boolean) => B) => Effect.Effect<B>
  /** Keys being computed now. */
  readonly size: () => number
  /** Whether `key` is being computed now. */
  readonly has: (key: string) => boolean
}

/** @internal */
export const make = <A>(): SingleFlight<A> => {
  // a key's waiters, or null while nobody waits: the array is made when a second caller comes
  // (~1 KB less per item at 1,000 in flight with the waiter array and `settle` closure made per
  // key before: `node --conditions=@fastllm/source --import tsx bench/lib/allocProfile.ts`)
  const inFlight = new Map<string, Array<(value: A | undefined) => void> | null>()
  const settle = (key: string, value: A | undefined) => {
    const waiters = inFlight.get(key)
    inFlight.delete(key)
    if (waiters != null) for (const wake of waiters) wake(value)
  }
  const runWith = <B>(key: string, compute: Effect.Effect<A>, done: (value: A, shared: boolean) => B): Effect.Effect<B> =>
    // the mask's function runs when the effect runs, as `suspend`'s would: one operation fewer
    // than `suspend` around it (`node --conditions=@fastllm/source --import tsx bench/lib/allocProfile.ts`)
    Effect.uninterruptibleMask((restore) => {
      const running = inFlight.get(key)
      if (running !== undefined) {
        const waiters = running ?? []
        if (running === null) inFlight.set(key, waiters)
        return restore(Effect.flatMap(
          Effect.async<A | undefined>((resume) => {
            waiters.push((value) => resume(Effect.succeed(value)))
          }),
          (value) =>
            value === undefined
              ? runWith(key, compute, done) // the leader was interrupted: take over
              : Effect.succeed(done(value, true))
        ))
      }
      inFlight.set(key, null)
      return Effect.matchCauseEffect(restore(compute), {
        onFailure: (cause) => {
          settle(key, undefined)
          return Effect.failCause(cause)
        },
        onSuccess: (value) => {
          settle(key, value)
          return Effect.succeed(done(value, false))
        }
      })
    })
  const run = (key: string, compute: Effect.Effect<A>): Effect.Effect<{ readonly value: A; readonly shared: boolean }> =>
    runWith(key, compute, (value, shared) => ({ value, shared }))
  return { run, runWith, size: () => inFlight.size, has: (key) => inFlight.has(key) }
}
