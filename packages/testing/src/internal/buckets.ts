/**
 * Rate limits: a requests bucket and a tokens bucket, each refilled continuously at its limit per
 * minute, and the 429 `rate_limit_exceeded` refusal OpenAI sends when one is short. Taking from the
 * buckets returns a {@link Take} value: the headers to send, or what was short.
 *
 * @internal
 */
import { RateLimitHeaders } from "@fastllm/core"
import { type Rejection, reject } from "./reply.js"

const MINUTE_MS = 60_000
const ORGANIZATION = "org-fastllm-test"

/**
 * A token bucket refilled continuously at `limit` units per minute. Its capacity is `limit` ×
 * `windowMs` / 1 minute: the whole minute's quota by default, a share of it when the limit is
 * enforced over a shorter window (OpenAI's quantized limits). @internal
 */
export class Bucket {
  level: number
  updatedAt: number
  readonly capacity: number
  constructor(readonly limit: number, now: number, windowMs: number = MINUTE_MS) {
    this.capacity = Math.max(1, (limit * windowMs) / MINUTE_MS)
    this.level = this.capacity
    this.updatedAt = now
  }
  refill(now: number): void {
    if (now > this.updatedAt) {
      this.level = Math.min(this.capacity, this.level + ((now - this.updatedAt) * this.limit) / MINUTE_MS)
      this.updatedAt = now
    }
  }
  /** Milliseconds until the bucket holds `amount`. */
  waitFor(amount: number): number {
    return amount <= this.level ? 0 : ((amount - this.level) * MINUTE_MS) / this.limit
  }
  /** Milliseconds until the bucket is full again (OpenAI's `x-ratelimit-reset-*`). */
  resetMillis(): number {
    return ((this.capacity - this.level) * MINUTE_MS) / this.limit
  }
}

/** Which limit refused a request (the `type` of OpenAI's 429 body). @internal */
export type LimitKind = "requests" | "tokens"

/** The result of taking a request's cost from the buckets. @internal */
export type Take =
  | { readonly _tag: "Taken"; readonly headers: Record<string, string> }
  | {
    readonly _tag: "Short"
    readonly kind: LimitKind
    readonly waitMs: number
    readonly bucket: Bucket
    readonly requested: number
    readonly headers: Record<string, string>
  }

/** The limits of one server. @internal */
export interface Limits {
  readonly requestsPerMinute?: number | undefined
  readonly tokensPerMinute?: number | undefined
  readonly windowMs?: number | undefined
}

/** The requests and tokens buckets of one server (either may be absent). @internal */
export class RateBuckets {
  private requests: Bucket | undefined
  private tokens: Bucket | undefined

  /** New buckets, full, for the limits named in `which` (the other bucket keeps its level). */
  set(limits: Limits, which: ReadonlyArray<LimitKind>, now: number): void {
    if (which.includes("requests")) this.requests = makeBucket(limits.requestsPerMinute, now, limits.windowMs)
    if (which.includes("tokens")) this.tokens = makeBucket(limits.tokensPerMinute, now, limits.windowMs)
  }

  /** The `x-ratelimit-*` headers of the buckets as they are now (none without limits). */
  private headers(): Record<string, string> {
    const requests = this.requests
    const tokens = this.tokens
    if (requests === undefined && tokens === undefined) return {}
    return RateLimitHeaders.toHeaders({
      limitRequests: requests?.limit,
      remainingRequests: requests === undefined ? undefined : Math.floor(requests.level),
      resetRequestsMillis: requests?.resetMillis(),
      limitTokens: tokens?.limit,
      remainingTokens: tokens === undefined ? undefined : Math.floor(tokens.level),
      resetTokensMillis: tokens?.resetMillis()
    })
  }

  /** Refills the buckets and returns their headers without taking anything. */
  peek(now: number): Record<string, string> {
    if (this.requests === undefined && this.tokens === undefined) return {}
    this.requests?.refill(now)
    this.tokens?.refill(now)
    return this.headers()
  }

  /** Takes one request and `tokenCost` tokens, or nothing when either bucket is short. */
  take(tokenCost: number, now: number): Take {
    const requests = this.requests
    const tokens = this.tokens
    if (requests === undefined && tokens === undefined) return { _tag: "Taken", headers: {} }
    requests?.refill(now)
    tokens?.refill(now)
    const requestWait = requests?.waitFor(1) ?? 0
    const tokenWait = tokens?.waitFor(tokenCost) ?? 0
    if (requestWait === 0 && tokenWait === 0) {
      if (requests !== undefined) requests.level -= 1
      if (tokens !== undefined) tokens.level -= tokenCost
      return { _tag: "Taken", headers: this.headers() }
    }
    const headers = this.headers()
    return requestWait >= tokenWait
      ? { _tag: "Short", kind: "requests", waitMs: requestWait, bucket: requests!, requested: 1, headers }
      : { _tag: "Short", kind: "tokens", waitMs: tokenWait, bucket: tokens!, requested: tokenCost, headers }
  }
}

const makeBucket = (limit: number | undefined, now: number, windowMs: number | undefined): Bucket | undefined =>
  limit !== undefined && limit > 0 ? new Bucket(limit, now, windowMs) : undefined

/**
 * OpenAI's 429 `rate_limit_exceeded` with `retry-after` (s) and `retry-after-ms`. With the `bucket`
 * that was short, the message says its limit and use; without, it is an injected 429.
 *
 * @internal
 */
export const rateLimited = (
  model: string,
  kind: LimitKind,
  waitMs: number,
  headers: Record<string, string>,
  bucket?: Bucket,
  requested = 1
): Rejection => {
  const wait = Math.max(1, Math.ceil(waitMs))
  const detail = bucket === undefined
    ? ""
    : `: Limit ${bucket.limit}, Used ${Math.ceil(bucket.capacity - bucket.level)}, Requested ${requested}`
  const unit = kind === "requests" ? "requests per min (RPM)" : "tokens per min (TPM)"
  // A request larger than the whole bucket can never pass: OpenAI says so in the same 429 shape.
  const tooLarge = bucket !== undefined && requested > bucket.capacity
  return reject(429, {
    message: `${tooLarge ? "Request too large" : "Rate limit reached"} for ${model} in organization ${ORGANIZATION} on ${unit}${detail}. ${
      tooLarge
        ? "The input or output tokens must be reduced in order to run successfully."
        : `Please try again in ${RateLimitHeaders.formatResetMillis(wait)}.`
    } Visit https://platform.openai.com/account/rate-limits to learn more.`,
    type: kind,
    param: null,
    code: "rate_limit_exceeded"
  }, {
    ...headers,
    "retry-after": String(Math.ceil(wait / 1000)),
    "retry-after-ms": String(wait)
  })
}
