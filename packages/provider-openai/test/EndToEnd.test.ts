import { assert, describe, it } from "@effect/vitest"
import { Cache, type ChatRequest, RequestManager } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"

// RequestManager + OpenAiProvider (default transport) + the testing package's server, over real
// sockets on 127.0.0.1: a batch under injected 429s and 5xx must come back whole.

const total = 2_000
const concurrency = 200
const maxRetries = 6

describe("RequestManager + OpenAiProvider + TestServer", () => {
  it.live(`${total} requests at concurrency ${concurrency} with 10% injected 429/5xx: every item succeeds once`, () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({
        apiKey: "sk-e2e",
        latency: { minMs: 0, maxMs: 5 },
        faults: { seed: 42, rateLimit: 0.05, serverError: 0.05, retryAfterMs: [5, 20] }
      })
      const inputs = Array.from({ length: total }, (_, i): ChatRequest.ChatRequestInput => ({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: `question number ${i}` }]
      }))
      const MainLayer = RequestManager.layer({
        concurrency,
        maxRetries,
        // fast backoff so the test stays quick; Retry-After is honoured on top of it
        retrySchedule: Schedule.exponential("5 millis", 2).pipe(Schedule.jittered)
      }).pipe(
        Layer.provide(OpenAiProvider.layer({ apiKey: Redacted.make("sk-e2e"), baseUrl: server.url })),
        Layer.provide(Cache.none)
      )
      const { results, stats } = yield* RequestManager.run(inputs).pipe(Effect.provide(MainLayer))

      // exactly one result per input, in input order, each the answer to its own question
      assert.strictEqual(results.length, total)
      results.forEach((result, i) => {
        assert.strictEqual(result.index, i)
        assert.strictEqual(result._tag, "Success", result._tag === "Failure" ? result.error.message : undefined)
        const text = RequestManager.chatResponse(result)?.choices[0]?.message.content ?? ""
        assert.isTrue(text.startsWith(`Echo: question number ${i} (`), text)
      })
      assert.strictEqual(stats.succeeded, total)
      assert.strictEqual(stats.failed, 0)

      const seen = yield* server.stats
      // faults were injected, and retried
      assert.isAbove(seen.faults.rateLimit, 0)
      assert.isAbove(seen.faults.serverError, 0)
      assert.strictEqual(seen.requests, stats.apiCalls)
      assert.strictEqual(stats.retries, stats.apiCalls - total)
      assert.strictEqual(stats.retries, seen.faults.rateLimit + seen.faults.serverError)
      // every distinct body was sent at most 1 + maxRetries times
      assert.strictEqual(seen.byBodyHash.size, total)
      for (const count of seen.byBodyHash.values()) assert.isAtMost(count, 1 + maxRetries)
      // the server never saw more requests at once than the manager allows
      assert.isAtMost(seen.maxConcurrent, concurrency)
      assert.isAbove(seen.maxConcurrent, 1)
    }).pipe(Effect.scoped), 60_000)

  it.live("an interrupted run gives back its slots and aborts its calls; identical items share one call", () =>
    Effect.gen(function*() {
      // the default transport runs each attempt as one suspension (Provider.withUnsafeCall): an
      // interruption while items wait for a slot or for their reply must leave nothing behind
      const server = yield* TestServer.make({ latency: { minMs: 300, maxMs: 300 } })
      const ask = (prefix: string, n: number) =>
        Array.from({ length: n }, (_, i): ChatRequest.ChatRequestInput => ({
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: `${prefix} ${i % 4}` }]
        }))
      // built into the test's scope: the provider's connection pool lives as long as the manager
      const context = yield* Layer.build(Layer.merge(OpenAiProvider.layer({ baseUrl: server.url }), Cache.none))
      const manager = yield* RequestManager.make({ concurrency: 2, window: 8, maxRetries: 0 }).pipe(Effect.provide(context))
      const first = yield* Effect.fork(manager.run(ask("first", 8)))
      yield* Effect.sleep("150 millis")
      assert.strictEqual((yield* server.stats).maxConcurrent, 2)
      yield* Fiber.interrupt(first)

      // with a slot leaked this would wait forever: 8 items, 4 distinct, 2 slots
      const { results, stats } = yield* manager.run(ask("second", 8)).pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(stats.succeeded, 8)
      assert.strictEqual(stats.apiCalls, 4)
      assert.strictEqual(results.filter((result) => result._tag === "Success" && result.deduplicated).length, 4)
      const seen = yield* server.stats
      assert.isAtMost(seen.maxConcurrent, 2)
      // the first run's two calls in flight were aborted, its waiting items never sent
      assert.strictEqual(seen.byBodyHash.size, 6)
    }).pipe(Effect.scoped), 30_000)

  it.live("each attempt over the default transport times out on its own deadline, one after another", () =>
    Effect.gen(function*() {
      // the transport keeps the deadlines of one timeout in one list with one timer: a slot freed
      // by a timeout starts the next call, whose deadline must still fire on time
      const server = yield* TestServer.make({ latency: { minMs: 5_000, maxMs: 5_000 } })
      const context = yield* Layer.build(Layer.merge(OpenAiProvider.layer({ baseUrl: server.url }), Cache.none))
      const manager = yield* RequestManager.make({ concurrency: 2, maxRetries: 0, timeout: "150 millis" }).pipe(
        Effect.provide(context)
      )
      const started = Date.now()
      const { results } = yield* manager.run(Array.from({ length: 6 }, (_, i) => ({
        model: "gpt-4o-mini",
        messages: [{ role: "user" as const, content: `slow ${i}` }]
      })))
      const elapsed = Date.now() - started
      for (const result of results) {
        assert.strictEqual(result._tag === "Failure" ? result.error._tag : result._tag, "TimeoutError")
      }
      // three rounds of two calls, 150 ms each
      assert.isAtLeast(elapsed, 3 * 150 - 10)
      assert.isBelow(elapsed, 3_000)
    }).pipe(Effect.scoped), 30_000)
})
