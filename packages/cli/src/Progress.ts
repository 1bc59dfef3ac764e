/**
 * How the CLI shows a batch: a live bar on a terminal, a log line every few seconds otherwise,
 * and a summary at the end. Pure functions of `BatchStats`, so they are tested without a terminal.
 *
 * @since 0.1.0
 */
import { type BatchStats, Cost } from "@fastllm/core"
import * as NumberFormat from "./internal/numberFormat.js"

const integer = NumberFormat.lazy({ maximumFractionDigits: 0 })
const decimal = NumberFormat.lazy({ maximumFractionDigits: 1 })

/**
 * A duration for people: `850ms`, `12.3s`, `4m05s`, `2h03m`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatDuration = (millis: number): string => {
  if (!Number.isFinite(millis) || millis < 0) return "?"
  if (millis < 1000) return `${Math.round(millis)}ms`
  const seconds = millis / 1000
  if (seconds < 60) return `${decimal.format(seconds)}s`
  const totalSeconds = Math.round(seconds)
  const minutes = Math.floor(totalSeconds / 60)
  if (minutes < 60) return `${minutes}m${String(totalSeconds % 60).padStart(2, "0")}s`
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`
}

const rate = (perSecond: number) => perSecond >= 100 ? integer.format(perSecond) : decimal.format(perSecond)

/** The cost so far, and the budget when there is one: `$0.0123`, `$0.41/$5`, `cost unknown`. */
const costText = (stats: BatchStats.BatchStats): string => {
  const spent = Cost.format(stats.cost)
  const text = spent === "unknown" ? "cost unknown" : spent
  return stats.maxCost === undefined ? text : `${text} of ${Cost.formatUsd(stats.maxCost)}`
}

/** The concurrency in force, when adaptive concurrency has lowered it. */
const lowered = (stats: BatchStats.BatchStats): ReadonlyArray<string> =>
  stats.concurrency.current < stats.concurrency.configured
    ? [`concurrency ${integer.format(stats.concurrency.current)}/${integer.format(stats.concurrency.configured)}`]
    : []

const counters = (stats: BatchStats.BatchStats): string =>
  [
    `${integer.format(stats.done)}/${integer.format(stats.total)}`,
    `cached ${integer.format(stats.cached)}`,
    `failed ${integer.format(stats.failed)}`,
    `retries ${integer.format(stats.retries)}`,
    `${rate(stats.requestsPerSecond)} req/s`,
    ...lowered(stats),
    `tok/s in ${rate(stats.promptTokensPerSecond)} out ${rate(stats.completionTokensPerSecond)}`,
    costText(stats),
    `ETA ${stats.etaMillis === undefined ? "-" : formatDuration(stats.etaMillis)}`
  ].join(" | ")

/**
 * One line of a live progress bar, fitted to `width` columns.
 *
 * @since 0.1.0
 * @category formatting
 */
export const bar = (stats: BatchStats.BatchStats, width = 100): string => {
  const text = counters(stats)
  const barWidth = width - text.length - 3 >= 24 ? 24 : 10
  const fraction = stats.total > 0 ? Math.min(1, stats.done / stats.total) : 0
  const filled = Math.round(fraction * barWidth)
  const line = `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ${text}`
  return line.length > width ? line.slice(0, Math.max(0, width - 1)) : line
}

/**
 * A progress log line for non-terminal output (CI logs, files).
 *
 * @since 0.1.0
 * @category formatting
 */
export const logLine = (stats: BatchStats.BatchStats): string => {
  const percent = stats.total > 0 ? ` (${decimal.format((100 * stats.done) / stats.total)}%)` : ""
  return `fastllm: ${counters(stats)}${percent} | elapsed ${formatDuration(stats.elapsedMillis)}`
}

/**
 * The end-of-run summary: requests, cache hits, failures by kind, tokens, wall time, throughput.
 *
 * @since 0.1.0
 * @category formatting
 */
export const summary = (stats: BatchStats.BatchStats, wallMillis: number): string => {
  const seconds = wallMillis / 1000
  const perSecond = (n: number) => rate(seconds > 0 ? n / seconds : 0)
  const failures = Object.entries(stats.failuresByKind)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, n]) => `${kind} ${integer.format(n)}`)
    .join(", ")
  const lines = [
    `Done: ${integer.format(stats.done)} items in ${formatDuration(wallMillis)} ` +
    `(${perSecond(stats.done)} items/s)`,
    `  succeeded ${integer.format(stats.succeeded)}, failed ${integer.format(stats.failed)}` +
    (failures === "" ? "" : ` (${failures})`),
    `  cache hits ${integer.format(stats.cached)}, deduplicated ${integer.format(stats.deduplicated)}, ` +
    `API calls ${integer.format(stats.apiCalls)}, retries ${integer.format(stats.retries)}, ` +
    `rate limited ${integer.format(stats.rateLimited)}`,
    `  tokens: prompt ${integer.format(stats.tokens.promptTokens)}, completion ` +
    `${integer.format(stats.tokens.completionTokens)}, total ${integer.format(stats.tokens.totalTokens)} ` +
    `(${perSecond(stats.tokens.promptTokens)} in/s, ${perSecond(stats.tokens.completionTokens)} out/s)`
  ]
  lines.push(
    `  cost: ${Cost.format(stats.cost)}` + (stats.maxCost === undefined ? "" : ` (budget ${Cost.formatUsd(stats.maxCost)})`)
  )
  const [concurrency] = lowered(stats)
  if (concurrency !== undefined) lines.push(`  ${concurrency} at the end (lowered by adaptive concurrency)`)
  if (stats.rateLimitedIsolated > 0) {
    lines.push(`  isolated 429s ${integer.format(stats.rateLimitedIsolated)} (only their own request backed off)`)
  }
  if (stats.cacheErrors > 0) lines.push(`  cache errors ${integer.format(stats.cacheErrors)} (treated as misses)`)
  const { requestsPerMinute, tokensPerMinute } = stats.limits
  if (requestsPerMinute !== undefined || tokensPerMinute !== undefined || stats.rateLimitWaitMillis > 0) {
    const limit = (n: number | undefined, unit: string) => n === undefined ? `- ${unit}` : `${integer.format(n)} ${unit}`
    lines.push(
      `  rate limits ${limit(requestsPerMinute, "RPM")} / ${limit(tokensPerMinute, "TPM")}, ` +
        `held back ${formatDuration(stats.rateLimitWaitMillis)}`
    )
  }
  return lines.join("\n")
}
