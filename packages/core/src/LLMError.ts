/**
 * The typed errors of FastLLM. Each is data (a `Schema.TaggedError`) with a `message` a person
 * can act on; handle them with `Effect.catchTag`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schema from "effect/Schema"

/**
 * The request is malformed (never sent, never retried). `path` names the offending field.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidRequestError extends Schema.TaggedError<InvalidRequestError>()("InvalidRequestError", {
  reason: Schema.String,
  path: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `Invalid request${this.path ? ` at ${this.path}` : ""}: ${this.reason}`
  }
}

/**
 * The API answered with an error status. `type`, `code` and `param` are OpenAI's error fields;
 * `retryable` is true for 408, 409 and 5xx.
 *
 * @since 0.1.0
 * @category errors
 */
export class ApiError extends Schema.TaggedError<ApiError>()("ApiError", {
  status: Schema.Number,
  type: Schema.optional(Schema.String),
  code: Schema.optional(Schema.String),
  param: Schema.optional(Schema.String),
  detail: Schema.String,
  retryable: Schema.Boolean
}) {
  override get message(): string {
    const kind = [this.type, this.code].filter((part) => part !== undefined && part !== "").join("/")
    return `API error ${this.status}${kind ? ` (${kind})` : ""}: ${this.detail}`
  }
}

/**
 * Whether a status code is worth retrying: 408, 409, 429 and 5xx.
 *
 * @since 0.1.0
 * @category errors
 */
export const isRetryableStatus = (status: number): boolean =>
  status === 408 || status === 409 || status === 429 || status >= 500

/**
 * The API refused for rate limiting (429). `kind` is `requests` or `tokens` for a per-minute
 * limit (retryable after `retryAfter`), or `quota` for `insufficient_quota`, which no retry fixes.
 *
 * @since 0.1.0
 * @category errors
 */
export class RateLimitError extends Schema.TaggedError<RateLimitError>()("RateLimitError", {
  kind: Schema.Literal("requests", "tokens", "quota"),
  retryAfter: Schema.optional(Schema.DurationFromMillis),
  detail: Schema.optional(Schema.String),
  /**
   * What the server said was left of the limit that refused (its `x-ratelimit-remaining-*` header,
   * or `Limit − Used` from OpenAI's message), when it said so. 0 (or less than the request's
   * cost) means the bucket is empty and the whole batch must wait; a 429 with room left is an
   * isolated refusal (a load balancer, a shared key) that only its own request backs off from.
   * @since 0.2.0
   */
  remaining: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    if (this.kind === "quota") {
      return "Insufficient quota: the account has run out of credits or hit its spending limit, so no retry can " +
        "succeed. Check the plan and billing details, then rerun." +
        (this.detail ? ` Server said: ${this.detail}` : "")
    }
    const after = this.retryAfter ? `; retry after ${Duration.format(this.retryAfter)}` : ""
    return `Rate limited (${this.kind} per minute)${after}${this.detail ? `: ${this.detail}` : ""}`
  }
}

/**
 * No response within the per-attempt timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class TimeoutError extends Schema.TaggedError<TimeoutError>()("TimeoutError", {
  timeout: Schema.DurationFromMillis
}) {
  override get message(): string {
    return `No response within ${Duration.format(this.timeout)} (the per-attempt timeout)`
  }
}

/**
 * The connection failed: refused, reset, or closed before a response.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransportError extends Schema.TaggedError<TransportError>()("TransportError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Transport error: ${this.reason}`
  }
}

/**
 * The server answered 200 with a body that is not a valid response. `retryable` is true when the
 * body was not even JSON (truncated or garbled in transit), false when it was JSON of the wrong shape.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError extends Schema.TaggedError<DecodeError>()("DecodeError", {
  reason: Schema.String,
  retryable: Schema.Boolean
}) {
  override get message(): string {
    return `Could not decode the server's response: ${this.reason}`
  }
}

/**
 * A cache operation failed. The RequestManager never fails an item for this: it logs it, counts
 * it and treats the entry as a miss.
 *
 * @since 0.1.0
 * @category errors
 */
export class CacheError extends Schema.TaggedError<CacheError>()("CacheError", {
  operation: Schema.String,
  reason: Schema.String,
  path: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `Cache ${this.operation} failed${this.path ? ` for ${this.path}` : ""}: ${this.reason}`
  }
}

/**
 * Not sent: the run's cost budget (`maxCost`) would be exceeded by this call, or cannot be kept
 * because the model has no price. Not retried; a rerun with a larger budget continues from the
 * cache.
 *
 * @since 0.2.0
 * @category errors
 */
export class BudgetExceededError extends Schema.TaggedError<BudgetExceededError>()("BudgetExceededError", {
  /** The budget, US dollars. */
  maxCost: Schema.Number,
  /** Spent plus reserved by calls in flight when this call was refused, US dollars. */
  committed: Schema.Number,
  /** Set when the model has no price, so no call of it can be budgeted. */
  unpricedModel: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return this.unpricedModel !== undefined
      ? `not sent: the model ${this.unpricedModel} has no price, so the budget of $${this.maxCost} cannot be kept ` +
        "(give its price with the `prices` option or --price MODEL=INPUT,OUTPUT)"
      : `not sent: the budget of $${this.maxCost} is used up ($${this.committed.toFixed(4)} spent or in flight); ` +
        "rerun with a larger budget to continue (answers so far are cached)"
  }
}

/**
 * What a provider call can fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type ProviderError =
  | InvalidRequestError
  | ApiError
  | RateLimitError
  | TimeoutError
  | TransportError
  | DecodeError
  | BudgetExceededError

/**
 * Schema of {@link ProviderError}, for encoding errors into output files.
 *
 * @since 0.1.0
 * @category errors
 */
export const ProviderError = Schema.Union(
  InvalidRequestError,
  ApiError,
  RateLimitError,
  TimeoutError,
  TransportError,
  DecodeError,
  BudgetExceededError
)

/**
 * Every FastLLM error.
 *
 * @since 0.1.0
 * @category errors
 */
export type LLMError = ProviderError | CacheError

/**
 * Schema of {@link LLMError}.
 *
 * @since 0.1.0
 * @category errors
 */
export const LLMError = Schema.Union(ProviderError, CacheError)

/**
 * Whether retrying may help: timeouts, transport errors, per-minute rate limits, retryable API
 * statuses and garbled bodies. Invalid requests, 400/401/403/404/422 and insufficient quota: no.
 *
 * @since 0.1.0
 * @category errors
 */
export const isRetryable = (error: LLMError): boolean => {
  switch (error._tag) {
    case "ApiError":
    case "DecodeError":
      return error.retryable
    case "RateLimitError":
      return error.kind !== "quota"
    case "TimeoutError":
    case "TransportError":
      return true
    case "InvalidRequestError":
    case "CacheError":
    case "BudgetExceededError":
      return false
  }
}

/**
 * The Retry-After the server asked for, if the error carries one.
 *
 * @since 0.1.0
 * @category errors
 */
export const retryAfter = (error: LLMError): Duration.Duration | undefined =>
  error._tag === "RateLimitError" ? error.retryAfter : undefined
