/**
 * Adaptive concurrency: an AIMD control law over the number of provider calls in flight, fed with
 * every attempt's outcome. Pure arithmetic (no effects, time passed in), so tests drive it exactly.
 *
 * - Epochs: the law decides once per `limit` outcomes (about one round trip at full speed).
 * - Multiplicative decrease: an epoch where at least `congestionShare` of the outcomes were 429s
 *   or timeouts (a burst of them, not the odd one) cuts the limit by `decrease`; with
 *   `latencyRatio` set, so does an epoch whose mean latency is over `latencyRatio` × the lowest
 *   epoch mean seen (the server slows down under load: more in flight only queues).
 * - Additive increase: a clean epoch adds one slot, never above the configured concurrency.
 * - Slow start: before the first cut, a clean epoch doubles the limit, from `initial`.
 *
 * Why our own and not a library: Netflix's concurrency-limits has no JavaScript port kept up to
 * date, and the law is twenty lines; its behaviour is pinned by RequestPipeline.test.ts and
 * measured with `npx tsx bench/limits-faults.ts`.
 *
 * @internal
 */
export interface Options {
  /** The configured concurrency: the ceiling. */
  readonly max: number
  /** Where it starts (slow start doubles it while all is well). Default min(max, 16). */
  readonly initial?: number | undefined
  readonly min?: number | undefined
  /** Default 0.7. */
  readonly decrease?: number | undefined
  /** Default 0.2: an epoch with this share of 429s/timeouts is congested. */
  readonly congestionShare?: number | undefined
  /**
   * An epoch this many times slower than the fastest epoch seen is congested. Default: off
   * (Infinity). Measured with `npx tsx bench/limits-faults.ts --scale 0.3`: at 2 it found the
   * best concurrency of a server that slows under load (0.91 of the best fixed one), but on a
   * loaded 2-core client our own queueing looked like a slow server and it cut a clean run to 4.
   */
  readonly latencyRatio?: number | undefined
}

/** One attempt's outcome as the law sees it. @internal */
export type Signal = "ok" | "congested" | "neutral"

/** @internal */
export class Aimd {
  limit: number
  private slowStart = true
  private outcomes = 0
  private congested = 0
  private latencySum = 0
  private latencyCount = 0
  private baseline = Number.POSITIVE_INFINITY
  /** Cuts so far, for stats. */
  cuts = 0
  readonly max: number
  private readonly min: number
  private readonly decrease: number
  private readonly congestionShare: number
  private readonly latencyRatio: number

  constructor(options: Options) {
    this.max = Math.max(1, Math.floor(options.max))
    this.min = Math.max(1, Math.min(this.max, options.min ?? 1))
    this.limit = Math.max(this.min, Math.min(this.max, options.initial ?? 16))
    this.decrease = options.decrease ?? 0.7
    this.congestionShare = options.congestionShare ?? 0.2
    this.latencyRatio = options.latencyRatio ?? Number.POSITIVE_INFINITY
  }

  /** Records one attempt; returns true when the limit changed. */
  record(signal: Signal, latencyMillis: number | undefined): boolean {
    this.outcomes++
    if (signal === "congested") this.congested++
    if (signal === "ok" && latencyMillis !== undefined) {
      this.latencySum += latencyMillis
      this.latencyCount++
    }
    if (this.outcomes < Math.max(4, Math.round(this.limit))) return false
    const before = Math.round(this.limit)
    const mean = this.latencyCount === 0 ? undefined : this.latencySum / this.latencyCount
    const slow = mean !== undefined && this.baseline !== Number.POSITIVE_INFINITY &&
      mean > this.latencyRatio * Math.max(1, this.baseline)
    if (mean !== undefined) this.baseline = Math.min(this.baseline, mean)
    if (this.congested >= this.congestionShare * this.outcomes || slow) {
      this.limit = Math.max(this.min, this.limit * this.decrease)
      this.slowStart = false
      this.cuts++
    } else {
      this.limit = Math.min(this.max, this.slowStart ? this.limit * 2 : this.limit + 1)
    }
    this.outcomes = 0
    this.congested = 0
    this.latencySum = 0
    this.latencyCount = 0
    return Math.round(this.limit) !== before
  }
}
