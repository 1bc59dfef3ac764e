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
  /** Keys being computed now. */
  readonly size: () => number
  /** Whether `key` is being computed now. */
  readonly has: (key: string) => boolean
}

/** @internal */
export const make = <A>(): SingleFlight<A> => {
  const inFlight = new Map<string, Array<(value: A | undefined) => void>>()
  const run = (key: string, compute: Effect.Effect<A>): Effect.Effect<{ readonly value: A; readonly shared: boolean }> =>
    Effect.suspend(() => {
      const running = inFlight.get(key)
      if (running !== undefined) {
        return Effect.flatMap(
          Effect.async<A | undefined>((resume) => {
            running.push((value) => resume(Effect.succeed(value)))
          }),
          (value) =>
            value === undefined
              ? run(key, compute) // the leader was interrupted: take over
              : Effect.succeed({ value, shared: true })
        )
      }
      const waiters: Array<(value: A | undefined) => void> = []
      inFlight.set(key, waiters)
      return compute.pipe(
        Effect.onExit((exit) =>
          Effect.sync(() => {
            inFlight.delete(key)
            const value = exit._tag === "Success" ? exit.value : undefined
            for (const wake of waiters) wake(value)
          })
        ),
        Effect.map((value) => ({ value, shared: false }))
      )
    })
  return { run, size: () => inFlight.size, has: (key) => inFlight.has(key) }
}
