import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"
import { isRetryable, type ProviderError, retryAfter } from "../LLMError.js"
import { parked } from "./orderedWindow.js"

/**
 * Never sooner than the server's Retry-After: intersected schedules wait for the longer delay.
 *
 * @internal
 */
export const honourRetryAfter: Schedule.Schedule<ProviderError, ProviderError> = Schedule.identity<ProviderError>().pipe(
  Schedule.addDelay((error) => retryAfter(error) ?? Duration.zero)
)

/**
 * Whether the server answers, and whether calls succeed: moving averages over the last attempts
 * (about 16), fed by every attempt. For "answers", resets, refused connections and timeouts count
 * against it and every reply, errors included, for it.
 *
 * @internal
 */
export class Health {
  private answeredScore = 1
  private succeededScore = 0.5

  /** One attempt: whether an HTTP reply came back, and whether it was a success. */
  record(answered: boolean, succeeded: boolean): void {
    this.answeredScore += ((answered ? 1 : 0) - this.answeredScore) / 16
    this.succeededScore += ((succeeded ? 1 : 0) - this.succeededScore) / 16
  }

  /** At least half of the recent attempts got a reply (quick retries after a dropped connection). */
  get healthy(): boolean {
    return this.answeredScore >= 0.5
  }

  /**
   * Most recent attempts succeeded: a failure now is an isolated one, and an item in a long
   * backoff may step aside for the next (orderedWindow.ts). Starts undecided (one failure first
   * says no), so a dead or refusing server never gets more items sent its way.
   */
  get mostlySucceeding(): boolean {
    return this.succeededScore >= 0.5
  }
}

/** First quick retry after a dropped connection; doubles per retry (Envoy's default base interval). */
const quickBaseMillis = 25
const baseMillis = 500
const capMillis = 30_000

/**
 * The delay before retry number `n` (0 for the first) after `error`, `r` uniform in [0, 1):
 *
 * - the server said when (Retry-After): then, plus up to 10% so the retries of a burst spread out;
 *   never sooner, and no later than that either: the server knows its own limits better than a
 *   schedule does;
 * - a dropped connection (reset, refused, closed) while the server answers other calls: 25 ms,
 *   doubling (jittered ×0.5–1.5). An isolated reset (a proxy recycling a connection, a load
 *   balancer) is retried on a new connection at once instead of sleeping half a second: at 2% and
 *   20% resets this keeps 0.8× and 0.5× of a clean run's items/s (`npx tsx bench/limits-faults.ts
 *   --only resets`); when most calls fail (the server is down or restarting) the normal backoff
 *   applies;
 * - else: exponential from 500 ms, doubling, jittered ×0.8–1.2, capped at 30 s.
 *
 * @internal
 */
export const delayFor = (error: ProviderError, n: number, healthy: boolean, r: number): number => {
  const after = retryAfter(error)
  if (after !== undefined) return Duration.toMillis(after) * (1 + 0.1 * r)
  if (error._tag === "TransportError" && healthy) return Math.min(capMillis, quickBaseMillis * 2 ** n * (0.5 + r))
  return Math.min(capMillis, baseMillis * 2 ** n * (0.8 + 0.4 * r))
}

/**
 * The default backoff, by {@link delayFor}: the server's Retry-After when it gives one, a quick
 * retry after a dropped connection while the server answers, else exponential from 500 ms.
 *
 * @internal
 */
export const adaptiveSchedule = (healthy: () => boolean): Schedule.Schedule<[ProviderError, number], ProviderError> =>
  Schedule.identity<ProviderError>().pipe(
    Schedule.intersect(Schedule.count),
    Schedule.addDelayEffect(([error, n]) =>
      Effect.map(Random.next, (r) => Duration.millis(delayFor(error, n, healthy(), r)))
    )
  )

/** @internal */
export interface RetryOptions {
  /**
   * The backoff. Default {@link adaptiveSchedule}. A schedule given here is used as it is, and a
   * retry never comes sooner than Retry-After.
   */
  readonly schedule?: Schedule.Schedule<unknown, ProviderError> | undefined
  /** Retries after the first attempt. */
  readonly maxRetries: number
  /** Checked before each retry besides `isRetryable` (the circuit breaker: false while it is open). */
  readonly allowRetry?: (() => boolean) | undefined
  /** Whether the server answers ({@link Health}); default: always. Used by the default backoff only. */
  readonly healthy?: (() => boolean) | undefined
}

/**
 * The retry policy as one Schedule, read as the sentence it implements: back off by `schedule`
 * (never sooner than Retry-After) or by the default {@link adaptiveSchedule}, at most `maxRetries`
 * times, and only while the error is retryable and `allowRetry` says yes.
 *
 * @internal
 */
export const policy = (options: RetryOptions): Schedule.Schedule<unknown, ProviderError> => {
  const allow = options.allowRetry
  const healthy = options.healthy ?? (() => true)
  const backoff: Schedule.Schedule<unknown, ProviderError> = options.schedule === undefined
    ? adaptiveSchedule(healthy)
    : options.schedule.pipe(Schedule.intersect(honourRetryAfter))
  return backoff.pipe(
    Schedule.intersect(Schedule.recurs(Math.max(0, options.maxRetries))),
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
  maxRetries: number,
  park: () => boolean = () => false
): Effect.Effect<A, ProviderError> =>
  maxRetries <= 0
    ? once
    : Effect.catchAll(once, (first) => isRetryable(first) ? retryFrom(first, once, schedule, park) : Effect.fail(first))

/**
 * What {@link withRetries} does after a first retryable failure `first`: the schedule, replaying
 * `first` into it (no second call), so its first backoff is the schedule's.
 *
 * @internal
 */
export const retryFrom = <A>(
  first: ProviderError,
  once: Effect.Effect<A, ProviderError>,
  schedule: Schedule.Schedule<unknown, ProviderError>,
  park: () => boolean = () => false
): Effect.Effect<A, ProviderError> => {
  let replay = true
  const again = Effect.suspend(() => {
    if (!replay) return once
    replay = false
    return Effect.fail(first)
  })
  // in a long backoff, the item steps aside so that the items behind it keep running, when
  // `park` says the failure is an isolated one (orderedWindow.ts)
  return parked(Effect.retry(again, schedule), park)
}
