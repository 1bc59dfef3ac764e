import { assert, describe, it } from "@effect/vitest"
import { RateLimitHeaders } from "@fastllm/core"
import { ServerFlags, TestServer } from "@fastllm/testing"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { call, chat, errorOf, header, type Reply } from "./helpers.js"

const send = (url: string, count: number, extra: Record<string, unknown> = {}) =>
  Effect.forEach(
    Array.from({ length: count }, (_, i) => i),
    (i) => call(`${url}/chat/completions`, { body: chat(`item ${i}`, extra) }),
    { concurrency: "unbounded" }
  )

const statuses = (replies: ReadonlyArray<Reply>) => replies.map((reply) => reply.status)

describe("rate window (quantized limits)", () => {
  it.scopedLive("60 RPM over 10 s: 10 pass at once, the rest get 429 type requests with remaining 0", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ requestsPerMinute: 60, rateWindow: "10 seconds" })
      const replies = yield* send(server.url, 14)
      const ok = statuses(replies).filter((status) => status === 200).length
      // 10 in the bucket, plus what refilled (1 per second) while the 14 were sent
      assert.isAtLeast(ok, 10)
      assert.isAtMost(ok, 12)
      const refused = replies.find((reply) => reply.status === 429)!
      assert.strictEqual(errorOf(refused)?.["type"], "requests")
      assert.strictEqual(errorOf(refused)?.["code"], "rate_limit_exceeded")
      assert.match(String(errorOf(refused)?.["message"]), /Limit 60, Used 10, Requested 1/)
      const limits = RateLimitHeaders.parse(refused.headers)
      assert.strictEqual(limits?.limitRequests, 60)
      assert.strictEqual(limits?.remainingRequests, 0)
      assert.isAbove(limits?.resetRequestsMillis ?? 0, 0)
      assert.isAtMost(limits?.resetRequestsMillis ?? Infinity, 10_000)
      assert.isAtMost(Number(header(refused, "retry-after-ms")), 1000)
    }))

  it.scopedLive("TPM over a window refuses with type tokens; the flag --rate-window sets it", () =>
    Effect.gen(function*() {
      const window = (text: string) => Either.map(ServerFlags.parse(["--rate-window", text]), (o) => o.rateWindow)
      assert.deepStrictEqual(window("500ms"), Either.right(Duration.millis(500)))
      assert.deepStrictEqual(window("2"), Either.right(Duration.millis(2000)))
      const parsed = ServerFlags.parse(["--tpm", "600", "--rate-window", "5s"])
      assert.isTrue(Either.isRight(parsed))
      if (Either.isLeft(parsed)) return
      const server = yield* TestServer.make(parsed.right)
      // bucket: 600 × 5 s / 60 s = 50 tokens, refilled at 10 per second; a request costs 2 (prompt) + 30 (max)
      const first = yield* call(`${server.url}/chat/completions`, { body: chat("hi", { max_tokens: 30 }) })
      const second = yield* call(`${server.url}/chat/completions`, { body: chat("hi", { max_tokens: 30 }) })
      assert.strictEqual(first.status, 200)
      assert.strictEqual(second.status, 429)
      assert.strictEqual(errorOf(second)?.["type"], "tokens")
      const remaining = RateLimitHeaders.parse(second.headers)?.remainingTokens ?? -1
      assert.isAtLeast(remaining, 18)
      assert.isBelow(remaining, 32)
      assert.isTrue(Either.isLeft(ServerFlags.parse(["--rate-window", "soon"])))
    }))

  it.scopedLive("an injected 429 is isolated: retry-after, no limit in the message, remaining not 0", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ requestsPerMinute: 6000, faults: { rateLimit: 1, retryAfterMs: [200, 200] } })
      const reply = yield* call(`${server.url}/chat/completions`, { body: chat("x") })
      assert.strictEqual(reply.status, 429)
      assert.strictEqual(header(reply, "retry-after-ms"), "200")
      assert.notMatch(String(errorOf(reply)?.["message"]), /Limit \d+/)
      assert.isAbove(RateLimitHeaders.parse(reply.headers)?.remainingRequests ?? 0, 0)
    }))
})

describe("latency under load and per-second stats", () => {
  it.scopedLive("latency grows with the requests in flight (linear and squared terms)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 800, perInFlightMs: 10, perInFlightSquaredMs: 1 } })
      const alone = yield* call(`${server.url}/chat/completions`, { body: chat("alone") })
      assert.strictEqual(header(alone, "x-fastllm-latency-ms"), "800")
      const replies = yield* send(server.url, 4)
      // each of the 4 is in flight for ≥ 800 ms, so the last to arrive sees 3 others: 800 + 30 + 9
      const latencies = replies.map((reply) => Number(header(reply, "x-fastllm-latency-ms")))
      assert.strictEqual(Math.max(...latencies), 839)
      assert.strictEqual(Math.min(...latencies), 800)
    }))

  it.scopedLive("requests per second since start: they add up to the requests; the peak is the largest", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      yield* send(server.url, 5)
      const stats = yield* server.stats
      assert.strictEqual(stats.requestsPerSecond.reduce((sum, count) => sum + count, 0), 5)
      assert.strictEqual(stats.peakRequestsPerSecond, Math.max(...stats.requestsPerSecond))
      yield* server.reset
      assert.deepStrictEqual((yield* server.stats).requestsPerSecond, [])
    }))
})
