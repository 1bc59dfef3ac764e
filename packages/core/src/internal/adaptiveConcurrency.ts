/**
 * Adaptive concurrency: the number of provider calls in flight, steered by every attempt's outcome
 * and by the throughput it buys. Pure arithmetic (no effects, time passed in), so tests drive it
 * exactly.
 *
 * - Epochs: after each change the law lets the calls admitted under the old limit drain (`skip`:
 *   as many completions as the old limit), then measures the next `max(8, limit)` completions:
 *   their throughput (completions per millisecond) and their share of 429s and timeouts.
 * - Multiplicative decrease on a burst: an epoch where at least `congestionShare` of the outcomes
 *   were 429s or timeouts, and significantly more than the recent level (over the share of the last
 *   clean epochs plus three standard deviations), cuts the limit by `decrease`. A steady trickle of
 *   random 429s (a load balancer, a key shared with other programs) becomes the recent level and
 *   cuts nothing; a rising share does.
 * - Slow start: from `initial`, double while doubling pays (the throughput grows by at least 20%).
 *   When it does not, more in flight only queues (the server or this process is saturated): go
 *   back to the smaller limit and stop doubling.
 * - Probing: then, every few epochs, try one eighth more; keep it only if the throughput grew by at
 *   least half the added share, else go back and wait twice as long before the next probe. So the
 *   limit grows back slowly while calls succeed and more in flight pays, and never above `max`.
 *
 * Why throughput and not latency: LLM latency depends on the answer's length far more than on load,
 * so a latency baseline (Vegas, Gradient) reads a batch of long answers as congestion and cuts a
 * healthy run to nothing; the throughput a limit buys is what a batch wants, whatever each call's
 * length. Measured with `npx tsx bench/limits-faults.ts --only load` (a server whose latency grows
 * with the calls in flight: the law settles near the best fixed concurrency of a sweep).
 *
 * Why our own and not a library: Netflix's concurrency-limits has no JavaScript port kept up to
 * date, and none of its laws probes throughput; its behaviour is pinned by LimitsAndFaults.test.ts.
 *
 * @internal
 */
export interface Options {
  /** The configured concurrency: the ceiling. */
  readonly max: number
  /** Where it starts (slow start doubles it while that pays). Default min(max, 16). */
  readonly initial?: number | undefined
  readonly min?: number | undefined
  /** Default 0.7. */
  readonly decrease?: number | undefined
  /** Default 0.2: an epoch needs at least this share of 429s/timeouts to be a burst. */
  readonly congestionShare?: number | undefined
}

/** One attempt's outcome as the law sees it. @internal */
export type Signal = "ok" | "congested" | "neutral"

/** Slow start keeps doubling while a doubling buys this much more throughput. */
const slowStartGain = 1.2
/** Epochs at a limit before the first probe; doubles after each probe that did not pay, up to 16. */
const firstProbeWait = 2
const maxProbeWait = 16

/** @internal */
export class Aimd {
  limit: number
  /** Cuts so far, for stats. */
  cuts = 0
  readonly max: number
  private readonly min: number
  private readonly decrease: number
  private readonly congestionShare: number

  private phase: "slowStart" | "steady" = "slowStart"
  /** Completions still to let drain after the last change, before measuring. */
  private skip = 0
  /** Whether the measurement has its starting mark (the last drained or the first completion). */
  private started = false
  private outcomes = 0
  private congested = 0
  private measured = 0
  private measureStart = 0
  /** The recent share of 429s/timeouts (clean epochs only). */
  private level = 0
  /** The accepted limit and the throughput measured at it; the limit tried above it, if any. */
  private baseLimit: number
  private baseRate = 0
  private probing: number | undefined = undefined
  private probeWait = firstProbeWait
  private epochsAtBase = 0

  constructor(options: Options) {
    this.max = Math.max(1, Math.floor(options.max))
    this.min = Math.max(1, Math.min(this.max, options.min ?? 1))
    this.limit = Math.max(this.min, Math.min(this.max, options.initial ?? 16))
    this.baseLimit = this.limit
    this.decrease = options.decrease ?? 0.7
    this.congestionShare = options.congestionShare ?? 0.2
  }

  /** Records one attempt's outcome at time `now` (ms, fractions welcome); returns true when the limit changed. */
  record(signal: Signal, now: number): boolean {
    this.outcomes++
    if (signal === "congested") this.congested++
    if (this.skip > 0) this.skip--
    if (!this.started) {
      if (this.skip > 0) return false
      this.started = true
      this.measureStart = now
      return false
    }
    this.measured++
    if (this.measured < Math.max(8, Math.round(this.limit))) return false
    const rate = this.measured / Math.max(0.001, now - this.measureStart)
    return this.decide(rate)
  }

  /** A burst: a share of 429s/timeouts over `congestionShare` and well over the recent level. */
  private burst(): boolean {
    const n = this.outcomes
    const k = this.congested
    if (k < this.congestionShare * n) return false
    const p = this.level
    return k > n * p + 3 * Math.sqrt(n * Math.max(p, 0.05) * (1 - p))
  }

  private decide(rate: number): boolean {
    const before = Math.round(this.limit)
    const share = this.outcomes === 0 ? 0 : this.congested / this.outcomes
    if (this.burst()) {
      this.set(Math.max(this.min, this.limit * this.decrease))
      this.phase = "steady"
      this.probing = undefined
      this.baseLimit = this.limit
      this.baseRate = 0
      this.epochsAtBase = 0
      this.probeWait = firstProbeWait
      this.cuts++
    } else {
      this.level += 0.3 * (share - this.level)
      if (this.phase === "slowStart") this.slowStart(rate)
      else this.steady(rate)
    }
    return Math.round(this.limit) !== before
  }

  private slowStart(rate: number): void {
    if (this.baseRate > 0 && rate < slowStartGain * this.baseRate && this.limit > this.baseLimit) {
      // doubling did not pay: back to the smaller limit, probe from there
      this.phase = "steady"
      this.set(this.baseLimit)
      this.epochsAtBase = 0
      return
    }
    this.baseLimit = this.limit
    this.baseRate = rate
    if (this.limit >= this.max) {
      this.phase = "steady"
      this.nextEpoch(0)
      return
    }
    this.set(Math.min(this.max, this.limit * 2))
  }

  private steady(rate: number): void {
    const probe = this.probing
    if (probe !== undefined) {
      this.probing = undefined
      const added = (probe - this.baseLimit) / this.baseLimit
      if (rate >= this.baseRate * (1 + added / 2)) {
        this.baseLimit = probe
        this.baseRate = rate
        this.probeWait = firstProbeWait
        this.epochsAtBase = 0
        this.nextEpoch(0)
      } else {
        this.probeWait = Math.min(maxProbeWait, this.probeWait * 2)
        this.epochsAtBase = 0
        this.set(this.baseLimit)
      }
      return
    }
    // at the accepted limit: keep its throughput current, probe upwards now and then
    this.baseRate = this.baseRate === 0 ? rate : (this.baseRate + rate) / 2
    this.epochsAtBase++
    if (this.epochsAtBase >= this.probeWait && this.limit < this.max) {
      const next = Math.min(this.max, Math.round(this.limit) + Math.max(1, Math.round(this.limit / 8)))
      this.probing = next
      this.set(next)
      return
    }
    this.nextEpoch(0)
  }

  /** Moves to `limit` and starts a new epoch that first lets the old limit's calls drain. */
  private set(limit: number): void {
    const old = this.limit
    this.limit = limit
    this.nextEpoch(old)
  }

  /** A new epoch: `drain` completions are let go by before the measurement starts. */
  private nextEpoch(drain: number): void {
    this.skip = Math.max(0, Math.round(drain))
    this.started = false
    this.outcomes = 0
    this.congested = 0
    this.measured = 0
  }
}
