import { assert, describe, it } from "@effect/vitest"
import type { BatchStats } from "@fastllm/core"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { parseDuration } from "../src/Cli.js"
import * as Progress from "../src/Progress.js"

const stats: BatchStats.BatchStats = {
  total: 1000,
  done: 250,
  succeeded: 240,
  failed: 10,
  cached: 100,
  deduplicated: 5,
  retries: 7,
  apiCalls: 152,
  inFlight: 64,
  rateLimited: 3,
  rateLimitWaitMillis: 1200,
  cacheErrors: 0,
  failuresByKind: { InvalidRequestError: 4, ApiError: 6 },
  tokens: { promptTokens: 12_000, completionTokens: 3_400, totalTokens: 15_400, cachedTokens: 0, reasoningTokens: 0 },
  elapsedMillis: 5_000,
  requestsPerSecond: 50,
  promptTokensPerSecond: 2_400,
  completionTokensPerSecond: 680,
  etaMillis: 15_000,
  limits: { requestsPerMinute: undefined, tokensPerMinute: undefined },
  cost: { usd: 0.0123, unpricedItems: 0 },
  maxCost: undefined,
  rateLimitedIsolated: 0,
  concurrency: { configured: 64, current: 64 }
}

describe("Progress", () => {
  it("draws a bar with done/total, cached, failed, retries, req/s, tokens/s in and out, and ETA", () => {
    const bar = Progress.bar(stats, 200)
    assert.match(bar, /^\[#{6}-{18}\] 250\/1,000 /)
    for (const part of ["cached 100", "failed 10", "retries 7", "50 req/s", "tok/s in 2,400 out 680", "$0.0123", "ETA 15s"]) {
      assert.include(bar, part)
    }
    assert.isAtMost(Progress.bar(stats, 60).length, 60)
  })

  it("logs a line with the percentage and elapsed time", () => {
    assert.include(Progress.logLine(stats), "(25%) | elapsed 5s")
  })

  it("summarizes requests, failures by kind, cache hits, tokens, wall time and throughput", () => {
    const summary = Progress.summary({ ...stats, done: 1000, succeeded: 990, failed: 10, etaMillis: 0 }, 20_000)
    assert.include(summary, "Done: 1,000 items in 20s (50 items/s)")
    assert.include(summary, "succeeded 990, failed 10 (ApiError 6, InvalidRequestError 4)")
    assert.include(summary, "cache hits 100, deduplicated 5, API calls 152, retries 7, rate limited 3")
    assert.include(summary, "tokens: prompt 12,000, completion 3,400, total 15,400 (600 in/s, 170 out/s)")
    assert.include(summary, "rate limits - RPM / - TPM, held back 1.2s")
    const limited = Progress.summary({ ...stats, limits: { requestsPerMinute: 3000, tokensPerMinute: 300_000 } }, 20_000)
    assert.include(limited, "rate limits 3,000 RPM / 300,000 TPM")
    const unlimited = Progress.summary({ ...stats, rateLimitWaitMillis: 0 }, 20_000)
    assert.notInclude(unlimited, "rate limits")
  })

  it("shows the cost, unknown ones as such, and the budget", () => {
    assert.include(Progress.summary(stats, 20_000), "cost: $0.0123")
    const unknown = { ...stats, cost: { usd: 0, unpricedItems: 140 } }
    assert.include(Progress.summary(unknown, 20_000), "cost: unknown")
    assert.include(Progress.bar(unknown, 200), "cost unknown")
    const budgeted = { ...stats, maxCost: 5 }
    assert.include(Progress.bar(budgeted, 200), "$0.0123 of $5.00")
    assert.include(Progress.summary(budgeted, 20_000), "cost: $0.0123 (budget $5.00)")
  })

  it("formats durations for people", () => {
    assert.deepStrictEqual(
      [850, 12_340, 245_000, 7_380_000].map(Progress.formatDuration),
      ["850ms", "12.3s", "4m05s", "2h03m"]
    )
  })
})

describe("parseDuration", () => {
  it("reads short and long forms, and rejects the rest", () => {
    const millis = (text: string) => Option.map(parseDuration(text), Duration.toMillis)
    assert.deepStrictEqual(millis("30"), Option.some(30_000))
    assert.deepStrictEqual(millis("500ms"), Option.some(500))
    assert.deepStrictEqual(millis("5m"), Option.some(300_000))
    assert.deepStrictEqual(millis("7d"), Option.some(604_800_000))
    assert.deepStrictEqual(millis("2 hours"), Option.some(7_200_000))
    assert.isTrue(Option.isNone(parseDuration("soon")))
    assert.isTrue(Option.isNone(parseDuration("-5s")))
  })
})
