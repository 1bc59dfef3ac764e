/**
 * Fault mix over real HTTP: 5,000 unique chat requests through RequestManager + OpenAiProvider
 * against the testing server on 127.0.0.1 with 10% 429 (retry-after 50–500 ms), 5% 500/502/503,
 * 2% connection resets, 1% hangs (past the per-attempt timeout) and 1% malformed bodies.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cache, ChatResponse, RequestManager } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"

const total = 5_000
const maxRetries = 8

describe("fault mix over real HTTP", () => {
  it.scopedLive("every input gets exactly one result, every retryable failure recovers within the budget", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        faults: {
          seed: 7,
          rateLimit: 0.10,
          retryAfterMs: [50, 500],
          serverError: 0.05,
          reset: 0.02,
          hang: 0.01,
          malformed: 0.01
        }
      })
      const manager = yield* RequestManager.make({
        concurrency: 200,
        // Past the hangs, yet roomy enough that a loaded machine (the whole suite in parallel)
        // does not turn queueing into timeouts.
        timeout: "2 seconds",
        maxRetries,
        retrySchedule: Schedule.exponential("20 millis", 2).pipe(
          Schedule.jittered,
          Schedule.modifyDelay((_, delay) => Duration.min(delay, Duration.millis(200)))
        )
      }).pipe(
        // Layer.build: the provider's connection pool lives as long as the test's scope.
        Effect.provide(
          yield* Layer.build(
            Layer.merge(OpenAiProvider.layer({ apiKey: Redacted.make("sk-reliability"), baseUrl: server.url }), Cache.none)
          )
        )
      )
      const requests = Array.from({ length: total }, (_, i) => ({
        model: "gpt-4o-mini",
        messages: [{ role: "user" as const, content: `fault mix item ${i}` }],
        max_tokens: 32
      }))

      const { results, stats } = yield* manager.run(requests)
      const seen = yield* server.stats

      // The faults really happened, in about the shares asked for.
      assert.isAbove(seen.faults.rateLimit, 300)
      assert.isAbove(seen.faults.serverError, 150)
      assert.isAbove(seen.faults.reset, 40)
      assert.isAbove(seen.faults.hang, 10)
      assert.isAbove(seen.faults.malformed, 10)

      // Exactly one result per input, in input order, each the answer to its own request.
      assert.strictEqual(results.length, total)
      const failures = results.filter((result) => result._tag === "Failure")
      assert.deepStrictEqual(failures.map((failure) => `${failure.index}: ${failure.error.message}`), [])
      results.forEach((result, i) => {
        assert.strictEqual(result.index, i)
        const response = RequestManager.chatResponse(result)
        assert.isDefined(response)
        if (response !== undefined) assert.include(ChatResponse.text(response) ?? "", `fault mix item ${i} (`)
      })
      assert.strictEqual(new Set(results.map((result) => result.key)).size, total, "no two items share a result")
      assert.strictEqual(stats.succeeded, total)
      assert.isAbove(stats.retries, 500)

      // Nothing was sent more often than the retry budget allows, and every attempt is accounted for.
      assert.strictEqual(seen.byBodyHash.size, total)
      const most = Math.max(...seen.byBodyHash.values())
      assert.isAtMost(most, 1 + maxRetries)
      const attempts = results.reduce((sum, result) => sum + result.attempts, 0)
      assert.strictEqual(attempts, stats.apiCalls)
      // The server never sees more than was attempted. It can see fewer: an attempt may die before
      // the server counts it (a kept-alive socket closed under it, or, on a loaded machine, the
      // per-attempt timeout passing before the request is written); those items were retried.
      assert.isAtMost(seen.requests, attempts)
    }), { timeout: 60_000 })
})
