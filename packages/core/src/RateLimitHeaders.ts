/**
 * OpenAI's rate-limit headers: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`,
 * `retry-after` and `retry-after-ms`. Parsed by providers, written by the test server, and read by
 * the RequestManager to run right at the limit.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"

/**
 * What one response said about the limits. Resets are in milliseconds from the response.
 *
 * @since 0.1.0
 * @category models
 */
export interface RateLimitInfo {
  readonly limitRequests?: number | undefined
  readonly remainingRequests?: number | undefined
  readonly resetRequestsMillis?: number | undefined
  readonly limitTokens?: number | undefined
  readonly remainingTokens?: number | undefined
  readonly resetTokensMillis?: number | undefined
}

/**
 * Headers as a lookup of lower-case names (Node's `IncomingHttpHeaders`, platform `Headers`, or a
 * plain record).
 *
 * @since 0.1.0
 * @category models
 */
export type HeaderLookup = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

const header = (headers: HeaderLookup, name: string): string | undefined => {
  const value = headers[name]
  return typeof value === "string" ? value : value?.[0]
}

const unitMillis: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1, us: 0.001, "µs": 0.001, ns: 0.000001 }
const durationPart = /(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/g

/**
 * Parses a reset duration as OpenAI writes it (`"1s"`, `"6m0s"`, `"20ms"`, `"1h2m3.5s"`) into
 * milliseconds; a bare number counts as seconds. `undefined` when it cannot be read.
 *
 * @since 0.1.0
 * @category parsing
 * @example
 * ```ts
 * import { RateLimitHeaders } from "@fastllm/core"
 *
 * RateLimitHeaders.parseResetMillis("6m0s") // 360000
 * RateLimitHeaders.parseResetMillis("20ms") // 20
 * ```
 */
export const parseResetMillis = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const trimmed = text.trim()
  if (trimmed === "") return undefined
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000
  let total = 0
  let consumed = 0
  for (const match of trimmed.matchAll(durationPart)) {
    total += Number(match[1]) * (unitMillis[match[2]!] ?? 0)
    consumed += match[0].length
  }
  return consumed === trimmed.length ? total : undefined
}

/**
 * Formats milliseconds the way OpenAI does: `"20ms"` under a second, else `"1s"`, `"6m0s"`, `"1h2m3s"`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatResetMillis = (millis: number): string => {
  const ms = Math.max(0, Math.ceil(millis))
  if (ms < 1000) return `${ms}ms`
  const hours = Math.floor(ms / 3_600_000)
  const minutes = Math.floor((ms % 3_600_000) / 60_000)
  const seconds = (ms % 60_000) / 1000
  const secondsText = Number.isInteger(seconds) ? `${seconds}s` : `${seconds.toFixed(3).replace(/0+$/, "")}s`
  if (hours > 0) return `${hours}h${minutes}m${secondsText}`
  if (minutes > 0) return `${minutes}m${secondsText}`
  return secondsText
}

const parseCount = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  const value = Number(text)
  return Number.isFinite(value) ? value : undefined
}

/**
 * Reads the `x-ratelimit-*` headers; `undefined` when the response has none.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (headers: HeaderLookup): RateLimitInfo | undefined => {
  const limitRequests = parseCount(header(headers, "x-ratelimit-limit-requests"))
  const remainingRequests = parseCount(header(headers, "x-ratelimit-remaining-requests"))
  const resetRequestsMillis = parseResetMillis(header(headers, "x-ratelimit-reset-requests"))
  const limitTokens = parseCount(header(headers, "x-ratelimit-limit-tokens"))
  const remainingTokens = parseCount(header(headers, "x-ratelimit-remaining-tokens"))
  const resetTokensMillis = parseResetMillis(header(headers, "x-ratelimit-reset-tokens"))
  // no object (and no `Object.values` array) for a reply without these headers: it is parsed once
  // per reply (`node --conditions=@fastllm/source --import tsx bench/lib/allocProfile.ts`)
  if (
    limitRequests === undefined && remainingRequests === undefined && resetRequestsMillis === undefined &&
    limitTokens === undefined && remainingTokens === undefined && resetTokensMillis === undefined
  ) return undefined
  return { limitRequests, remainingRequests, resetRequestsMillis, limitTokens, remainingTokens, resetTokensMillis }
}

/**
 * Writes {@link RateLimitInfo} as OpenAI's headers (fields left undefined are left out).
 *
 * @since 0.1.0
 * @category formatting
 */
export const toHeaders = (info: RateLimitInfo): Record<string, string> => {
  const out: Record<string, string> = {}
  const put = (name: string, value: number | undefined, format: (n: number) => string) => {
    if (value !== undefined) out[name] = format(value)
  }
  const count = (n: number) => String(Math.max(0, Math.floor(n)))
  put("x-ratelimit-limit-requests", info.limitRequests, count)
  put("x-ratelimit-remaining-requests", info.remainingRequests, count)
  put("x-ratelimit-reset-requests", info.resetRequestsMillis, formatResetMillis)
  put("x-ratelimit-limit-tokens", info.limitTokens, count)
  put("x-ratelimit-remaining-tokens", info.remainingTokens, count)
  put("x-ratelimit-reset-tokens", info.resetTokensMillis, formatResetMillis)
  return out
}

/**
 * The delay a refusal asks for, from, in order: `retry-after-ms`, `retry-after` (seconds or an
 * HTTP date, relative to `now`), then the larger relevant `x-ratelimit-reset-*`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const retryAfter = (headers: HeaderLookup, now: number = Date.now()): Duration.Duration | undefined => {
  const ms = parseCount(header(headers, "retry-after-ms"))
  if (ms !== undefined && ms >= 0) return Duration.millis(ms)
  const retryAfterText = header(headers, "retry-after")
  if (retryAfterText !== undefined) {
    const seconds = parseCount(retryAfterText)
    if (seconds !== undefined && seconds >= 0) return Duration.millis(seconds * 1000)
    const date = Date.parse(retryAfterText)
    if (!Number.isNaN(date)) return Duration.millis(Math.max(0, date - now))
  }
  const info = parse(headers)
  if (info === undefined) return undefined
  const resets: Array<number> = []
  if (info.remainingRequests === 0 && info.resetRequestsMillis !== undefined) resets.push(info.resetRequestsMillis)
  if (info.remainingTokens === 0 && info.resetTokensMillis !== undefined) resets.push(info.resetTokensMillis)
  if (resets.length === 0) {
    if (info.resetRequestsMillis !== undefined) resets.push(info.resetRequestsMillis)
    if (info.resetTokensMillis !== undefined) resets.push(info.resetTokensMillis)
  }
  return resets.length > 0 ? Duration.millis(Math.max(...resets)) : undefined
}
