/**
 * Fault injection: one seeded draw per chat/embeddings request picks a fault (or none) by the
 * configured shares, and {@link FaultInjector.actOut} turns the normal reply into the fault's
 * outcome. An injected 429 is a {@link Rejection} value like every other refusal.
 *
 * @internal
 */
import type { FaultKind, Faults } from "../ServerOptions.js"
import { rateLimited } from "./buckets.js"
import { mulberry32 } from "./prng.js"
import { type Outcome, type Rejection, reject, withHeaders } from "./reply.js"

/** Every fault kind, in the order their shares are laid out on [0, 1). @internal */
export const faultKinds: ReadonlyArray<FaultKind> = [
  "serverError",
  "rateLimit",
  "reset",
  "hang",
  "slowBody",
  "malformed",
  "truncated"
]

/** @internal */
export const emptyFaultCounts = (): Record<FaultKind, number> => ({
  serverError: 0,
  rateLimit: 0,
  reset: 0,
  hang: 0,
  slowBody: 0,
  malformed: 0,
  truncated: 0
})

const DEFAULT_RETRY_AFTER_MS: readonly [number, number] = [20, 100]
const DEFAULT_SLOW_BODY_MS = 200
const SLOW_BODY_CHUNKS = 4

/** The seeded fault generator of one server and its burst state. @internal */
export class FaultInjector {
  private random: () => number = mulberry32(0)
  private burstUntil = 0

  reseed(seed: number): void {
    this.random = mulberry32(seed)
  }

  /** Milliseconds left of a burst of injected 429s (0 when none is running). */
  burstWait(now: number): number {
    return now < this.burstUntil ? this.burstUntil - now : 0
  }

  /** One draw: the fault this request meets, if any. */
  pick(faults: Faults | undefined): FaultKind | undefined {
    if (faults === undefined) return undefined
    const draw = this.random()
    let cumulative = 0
    for (const kind of faultKinds) {
      const share = faults[kind] ?? 0
      if (share <= 0) continue
      cumulative += share
      if (draw < cumulative) return kind
    }
    return undefined
  }

  /** The outcome of `fault` for a request whose normal reply is `reply()` (with `limitHeaders`). */
  actOut(
    fault: FaultKind,
    faults: Faults | undefined,
    model: string,
    now: number,
    limitHeaders: Record<string, string>,
    reply: () => Outcome
  ): Outcome | Rejection {
    switch (fault) {
      case "serverError": {
        const statuses = [500, 502, 503] as const
        const status = statuses[Math.floor(this.random() * statuses.length)] ?? 500
        const message = status === 500
          ? "The server had an error while processing your request. Sorry about that!"
          : status === 502
          ? "Bad gateway."
          : "The server is overloaded or not ready yet."
        return reject(status, { message, type: "server_error", param: null, code: null }, limitHeaders)
      }
      case "rateLimit": {
        const [min, max] = faults?.retryAfterMs ?? DEFAULT_RETRY_AFTER_MS
        const wait = Math.round(min + this.random() * Math.max(0, max - min))
        if (faults?.burst === true) this.burstUntil = now + wait
        // no bucket is short: the message names no limit, the remaining-headers are not 0
        return rateLimited(model, "requests", wait, limitHeaders)
      }
      case "reset":
        return { _tag: "Reset", delayMs: 0 }
      case "hang":
        return { _tag: "Hang" }
      case "slowBody": {
        const outcome = withHeaders(reply(), limitHeaders)
        if (outcome._tag !== "Respond") return outcome
        const total = faults?.slowBodyMs ?? DEFAULT_SLOW_BODY_MS
        return {
          _tag: "SlowBody",
          headers: outcome.headers,
          body: outcome.body,
          delayMs: outcome.delayMs,
          chunks: SLOW_BODY_CHUNKS,
          chunkDelayMs: total / SLOW_BODY_CHUNKS
        }
      }
      case "malformed": {
        const outcome = withHeaders(reply(), limitHeaders)
        if (outcome._tag !== "Respond") return outcome
        const broken = `${outcome.body.slice(0, Math.floor(outcome.body.length / 2))},,"oops": <not json>`
        return { ...outcome, status: 200, body: broken }
      }
      case "truncated": {
        const outcome = withHeaders(reply(), limitHeaders)
        if (outcome._tag !== "Respond") return outcome
        return { _tag: "Truncated", headers: outcome.headers, body: outcome.body, delayMs: outcome.delayMs }
      }
    }
  }
}
