/**
 * The arithmetic of one rate budget (requests or tokens per minute), without effects: the limit in
 * force, and what the server's `x-ratelimit-remaining-*` replies say the bucket should hold now.
 * The RateController (rateController.ts) keeps the bucket itself in the rate limiter's store.
 *
 * @internal
 */

/** The window of both budgets: OpenAI's limits are per minute. @internal */
export const windowMillis = 60_000

/** How many replies' remaining counts a budget compares with (see {@link Budget.target}). @internal */
export const readingsKept = 32

/**
 * One reply's remaining count, and where its request stood when it was admitted: `mark` is the
 * budget's `reserved` counter just after the request's own reservation.
 *
 * @internal
 */
export interface Reading {
  readonly remaining: number
  readonly perMinute: number
  readonly mark: number
  readonly admittedAt: number
}

/**
 * One budget: what the user configured, what the server's headers said, the last reset seen, and
 * the last replies' remaining counts.
 *
 * @internal
 */
export class Budget {
  learned: number | undefined = undefined
  resetMillis: number | undefined = undefined
  /** Everything ever reserved, with or without a limit in force: what tickets' marks count from. */
  reserved = 0
  /** The last replies' remaining counts (a ring of {@link readingsKept}). */
  readonly readings: Array<Reading> = []
  private next = 0

  constructor(readonly key: string, readonly configured: number | undefined) {}

  /** The limit in force: the stricter of configured and learned; undefined when neither is known. */
  get limit(): number | undefined {
    if (this.configured === undefined) return this.learned
    if (this.learned === undefined) return this.configured
    return Math.min(this.configured, this.learned)
  }

  /** Keeps a reply's reading; true for the very first one. */
  record(reading: Reading): boolean {
    this.readings[this.next] = reading
    this.next = (this.next + 1) % readingsKept
    return this.readings.length === 1
  }

  /**
   * What the servers' remaining counts say this budget holds at `now`. The server took a
   * request's `remaining` when it arrived, right after the request's mark was taken; since then it
   * has refilled (at most to its limit), and it will still count everything reserved after that
   * mark. If that leaves less than our bucket holds, ours was optimistic (a shared key, a stricter
   * server, a first wave sent before the limits were known), and the bucket is lowered to match.
   *
   * One reply can mislead: requests reserved after it that reached the server first are counted
   * twice (measured: over a 200-wide burst on a busy machine, hundreds, which threw away half of
   * a 300,000 TPM budget). That error only ever lowers the estimate, while a real discrepancy
   * shows in every reply, so the target follows the most generous of the last replies.
   */
  target(now: number): number {
    let best = Number.NEGATIVE_INFINITY
    for (const reading of this.readings) {
      const refilled = Math.min(
        reading.perMinute,
        reading.remaining + (Math.max(0, now - reading.admittedAt) * reading.perMinute) / windowMillis
      )
      best = Math.max(best, refilled + reading.mark)
    }
    return best - this.reserved
  }
}

/**
 * What a budget of `perMinute` refills during the round trip of a request admitted at
 * `admittedAt`. A bucket that starts full, as the server's does, is drained by our reservations a
 * round trip before the server sees them, and the server wastes that round trip's refill while it
 * is still full (measured: 2 429s in 1,800 requests right after the first burst); the first reply
 * takes it off our bucket once.
 *
 * @internal
 */
export const roundTripRefill = (now: number, admittedAt: number, perMinute: number): number =>
  (Math.max(0, now - admittedAt) * perMinute) / windowMillis

/** A positive finite number, or undefined. @internal */
export const positive = (n: number | undefined): number | undefined =>
  n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined

/**
 * The size of a paced bucket: `burstMillis`' worth of a limit of `perMinute`, at least `atLeast`
 * (one request: a request bucket smaller than one request would never let one through).
 *
 * @internal
 */
export const burstCapacity = (perMinute: number, burstMillis: number, atLeast: number): number =>
  Math.max(atLeast, (perMinute * burstMillis) / windowMillis)

/**
 * Whether a 429 says the bucket is empty (the whole batch must wait) rather than an isolated
 * refusal (only its own request backs off): the server said what was left of the limit, and it was
 * less than this request's cost (one request, or its estimated tokens).
 *
 * @internal
 */
export const bucketEmpty = (
  error: { readonly kind: "requests" | "tokens" | "quota"; readonly remaining?: number | undefined },
  ticket: { readonly estimatedTokens: number }
): boolean => {
  if (error.kind === "quota") return true
  if (error.remaining === undefined) return false
  return error.remaining < (error.kind === "tokens" ? Math.max(1, ticket.estimatedTokens) : 1)
}
