import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as MetricLabel from "effect/MetricLabel"
import type { ItemResult } from "../ItemResult.js"

/**
 * The Effect Metrics of every RequestManager (`RequestManager.metrics`).
 *
 * They are updated with `unsafeUpdate` (synchronous, no fiber context): per-item
 * `Metric.increment` effects cost ~1 µs each on a path taken millions of times. The price: labels
 * set with `Effect.tagMetrics` are not applied to these metrics.
 *
 * @internal
 */
export const metrics = {
  items: Metric.counter("fastllm_items_total", { description: "Items finished", incremental: true }),
  failures: Metric.counter("fastllm_item_failures_total", { description: "Items failed", incremental: true }),
  cacheHits: Metric.counter("fastllm_cache_hits_total", { description: "Items answered from the cache", incremental: true }),
  apiCalls: Metric.counter("fastllm_api_calls_total", { description: "Provider calls (every attempt)", incremental: true }),
  retries: Metric.counter("fastllm_retries_total", { description: "Attempts after the first", incremental: true }),
  promptTokens: Metric.counter("fastllm_prompt_tokens_total", { incremental: true }),
  completionTokens: Metric.counter("fastllm_completion_tokens_total", { incremental: true }),
  latency: Metric.timerWithBoundaries(
    "fastllm_api_call_duration",
    MetricBoundaries.exponential({ start: 5, factor: 2, count: 14 }).values,
    "Duration of provider calls (milliseconds)"
  )
}

const noTags: ReadonlyArray<MetricLabel.MetricLabel> = []

/** Counts a finished item: items, failures, cache hits, and the tokens paid for. @internal */
export const recordItem = (result: ItemResult): void => {
  metrics.items.unsafeUpdate(1, noTags)
  if (result._tag === "Failure") metrics.failures.unsafeUpdate(1, noTags)
  else if (result.fromCache) metrics.cacheHits.unsafeUpdate(1, noTags)
  else if (!result.deduplicated) {
    metrics.promptTokens.unsafeUpdate(result.tokens.promptTokens, noTags)
    metrics.completionTokens.unsafeUpdate(result.tokens.completionTokens, noTags)
  }
}

/** Counts the attempts after an item's first. @internal */
export const recordRetries = (retries: number): void => {
  if (retries > 0) metrics.retries.unsafeUpdate(retries, noTags)
}

/** Counts one provider call as it starts; returns the start time for {@link callEnded}. @internal */
export const callStarted = (clock: Clock.Clock): number => {
  metrics.apiCalls.unsafeUpdate(1, noTags)
  return clock.unsafeCurrentTimeMillis()
}

/** Records the duration of a provider call that started at `started`, however it ended. @internal */
export const callEnded = (clock: Clock.Clock, started: number): void => {
  metrics.latency.unsafeUpdate(Duration.millis(clock.unsafeCurrentTimeMillis() - started), noTags)
}
