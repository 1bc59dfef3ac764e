/**
 * The cost budget (`maxCost`): whether a call may start. Before each call, what was spent plus
 * what calls in flight may spend plus this call's estimate must fit; the first call that does not
 * fit closes the budget for good (no new call is sent, the remaining items fail), so a run never
 * spends more than the budget plus what in-flight calls spend beyond their estimates.
 *
 * A call's estimate is the price of its prompt estimate plus its maximum output (`max_tokens`),
 * so with `max_tokens` set the budget holds exactly. Settling replaces the estimate with the
 * answer's real cost; a failed call settles at zero (OpenAI does not bill refused or failed calls).
 *
 * @internal
 */
export class SpendLimit {
  /** US dollars paid for answers so far. */
  spent = 0
  /** US dollars reserved by calls in flight. */
  reserved = 0
  closed = false

  constructor(readonly maxCost: number) {}

  /** Reserves `estimate` for a call; false (and closed from now on) when it does not fit. */
  tryReserve(estimate: number): boolean {
    if (this.closed) return false
    if (this.spent + this.reserved + estimate > this.maxCost) {
      this.closed = true
      return false
    }
    this.reserved += estimate
    return true
  }

  /** A call ended: its reservation is replaced by what it cost (0 when it failed). */
  settle(estimate: number, actual: number): void {
    this.reserved = Math.max(0, this.reserved - estimate)
    this.spent += actual
  }
}
