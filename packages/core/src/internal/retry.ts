import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { isRetryable, type ProviderError, retryAfter } from "../LLMError.js"

/**
 * The default backoff between attempts: exponential from 500 ms, doubling, jittered, capped at 30 s.
 *
 * @internal
 */
export const defaultSchedule: Schedule.Schedule<unknown, ProviderError> = Schedule.exponential("500 millis", 2).pipe(
  Schedule.jittered,
  Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.seconds(30)))
)

/**
 * Never sooner than the server's Retry-After: intersected schedules wait for the longer delay.
 *
 * @internal
 */
export const honourRetryAfter: Schedule.Schedule<ProviderError, ProviderError> = Schedule.identity<ProviderError>().pipe(
  Schedule.addDelay((error) => retryAfter(error) ?? Duration.zero)
)

/** @internal */
export interface RetryOptions {
  /** The backoff; default {@link defaultSchedule}. */
  readonly schedule?: Schedule.Schedule<unknown, ProviderError> | undefined
  /** Retries after the first attempt. */
  readonly maxRetries: number
  /** Checked before each retry besides `isRetryable` (the circuit breaker: false while it is open). */
  readonly allowRetry?: (() => boolean) | undefined
}

/**
 * The retry policy as one Schedule, read as the sentence it implements: back off by `schedule`,
 * at most `maxRetries` times, never sooner than Retry-After, and only while the error is retryable
 * and `allowRetry` says yes.
 *
 * @internal
 */
export const policy = (options: RetryOptions): Schedule.Schedule<unknown, ProviderError> => {
  const allow = options.allowRetry
  return (options.schedule ?? defaultSchedule).pipe(
    Schedule.intersect(Schedule.recurs(Math.max(0, options.maxRetries))),
    Schedule.intersect(honourRetryAfter),
    Schedule.whileInput((error: ProviderError) => isRetryable(error) && (allow === undefined || allow()))
  )
}

/**
 * `once` retried by `schedule`. The schedule is only started after a first retryable failure:
 * `Effect.retry` costs several microseconds per item even when nothing fails (the CPU per request
 * shows in `npm run bench -- --only overhead`), so the happy path is a plain `catchAll`. The retry loop
 * replays the first failure into the schedule (no second call), so the first backoff is the
 * schedule's, exactly as if `Effect.retry(once, schedule)` had run from the start.
 *
 * @internal
 */
export const withRetries = <A>(
  once: Effect.Effect<A, ProviderError>,
  schedule: Schedule.Schedule<unknown, ProviderError>,
  maxRetries: number
): Effect.Effect<A, ProviderError> =>
  maxRetries <= 0
    ? once
    : Effect.catchAll(once, (first) => {
      if (!isRetryable(first)) return Effect.fail(first)
      let replay = true
      const again = Effect.suspend(() => {
        if (!replay) return once
        replay = false
        return Effect.fail(first)
      })
      return Effect.retry(again, schedule)
    })
