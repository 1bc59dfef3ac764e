import * as Duration from "effect/Duration"
import { type ProviderError, TransportError } from "../LLMError.js"

/**
 * A circuit breaker for a server that is not there. When `threshold` items in a row have failed
 * with a `TransportError` after every retry (nothing answered, no success in between), the
 * breaker opens: new items fail at once instead of each spending its whole retry budget, so a
 * wrong base URL or a dead server ends a million-item batch in seconds, not hours. After
 * `cooldown` it lets items through again; the first success closes it.
 *
 * @internal
 */
export class Breaker {
  private consecutive = 0
  private openedAt = Number.NEGATIVE_INFINITY
  private lastReason = ""

  constructor(private readonly threshold: number, private readonly cooldown: Duration.Duration) {}

  isOpen(now: number): boolean {
    return this.consecutive >= this.threshold && now - this.openedAt < Duration.toMillis(this.cooldown)
  }

  /** An item's final outcome (after its retries) came from the provider. */
  record(error: ProviderError | undefined, now: number): void {
    if (error === undefined) {
      this.consecutive = 0
      return
    }
    if (error._tag !== "TransportError") return
    this.consecutive++
    this.lastReason = error.reason
    if (this.consecutive >= this.threshold && !this.isOpen(now)) this.openedAt = now
  }

  rejection(): TransportError {
    return new TransportError({
      reason: `not sent: the server looks unreachable (the last ${this.consecutive} requests failed to connect after ` +
        `every retry; last error: ${this.lastReason}). New requests fail at once for ${Duration.format(this.cooldown)}, ` +
        "then are tried again: rerun when the server is back."
    })
  }
}
