import { assert, describe, it } from "@effect/vitest"
import {
  ApiRequest,
  Cache,
  ChatRequest,
  ChatResponse,
  LLMError,
  Provider,
  RateLimitHeaders,
  RequestManager
} from "@fastllm/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import type { RateController, Ticket } from "../src/internal/rateController.js"
import { make as makeRateController } from "../src/internal/rateController.js"
import * as TokenEstimate from "../src/internal/tokenEstimate.js"

// A request whose estimate is exactly `tokens`: 1 (four characters) + max_tokens.
const requestOf = (i: number, tokens = 100): ChatRequest.ChatRequestInput => ({
  model: "m",
  messages: [{ role: "user", content: `q${String(i).padStart(3, "0")}` }],
  max_tokens: tokens - 1
})

const decodeChat = Schema.decodeUnknownSync(ChatRequest.ChatRequest)
const chat = (input: ChatRequest.ChatRequestInput) => ApiRequest.chat(decodeChat(input))

const answer = (
  request: ChatRequest.ChatRequest,
  usage?: { readonly prompt: number; readonly completion: number }
): ChatResponse.ChatResponse => ({
  id: "r",
  model: request.model,
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }],
  ...(usage === undefined ? {} : {
    usage: {
      prompt_tokens: usage.prompt,
      completion_tokens: usage.completion,
      total_tokens: usage.prompt + usage.completion
    }
  })
})

type Handler = (
  request: ChatRequest.ChatRequest,
  call: number,
  now: number
) => Effect.Effect<Provider.Reply<ChatResponse.ChatResponse>, LLMError.ProviderError>

/** A provider that records the virtual time of every call and answers with `handler`. */
const fakeProvider = (handler: Handler) => {
  const sends: Array<number> = []
  const layer = Layer.succeed(Provider.Provider, {
    name: "fake",
    chat: (request) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        sends.push(now)
        return handler(request, sends.length - 1, now)
      }),
    embed: () => Effect.fail(new LLMError.InvalidRequestError({ reason: "no embeddings" }))
  })
  return { sends, layer }
}

/** Usage exactly as estimated: prompt 1 + completion max_tokens. */
const exact: Handler = (request) =>
  Effect.succeed({ response: answer(request, { prompt: 1, completion: request.max_tokens ?? 0 }) })

const runBatch = (
  provider: ReturnType<typeof fakeProvider>,
  options: RequestManager.Options,
  inputs: ReadonlyArray<ApiRequest.Input>,
  advance: Duration.DurationInput
) =>
  Effect.gen(function*() {
    const manager = yield* RequestManager.make({ cache: false, ...oneMinuteBurst, ...options })
    const fiber = yield* Effect.fork(manager.run(inputs))
    yield* TestClock.adjust(advance)
    return yield* Fiber.join(fiber)
  }).pipe(Effect.provide(Layer.merge(provider.layer, Cache.none)))

/**
 * These tests pin the budgets' arithmetic with OpenAI's classic buckets (a minute's worth at once)
 * and a fixed concurrency; paced budgets and adaptive concurrency have their own tests.
 */
const oneMinuteBurst = { burst: "1 minute", adaptiveConcurrency: false } as const

/** A ticket for a reply or error that no `acquire` of the test admitted. */
const unadmitted: Ticket = { estimatedTokens: 0, requests: 0, tokens: 0, admittedAt: 0 }

const range = (n: number) => Array.from({ length: n }, (_, i) => i)

/** Starts `n` acquires at once and returns when each was let through (10 virtual seconds at most). */
const acquireTimes = (controller: RateController, n: number) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    const recordTime = Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => times.push(t)))
    const fiber = yield* Effect.fork(
      Effect.forEach(range(n), () => Effect.zipRight(controller.acquire(0), recordTime), { concurrency: "unbounded" })
    )
    yield* TestClock.adjust("10 seconds")
    yield* Fiber.join(fiber)
    return times
  })

describe("RateLimit", () => {
  describe("configured budgets (TestClock)", () => {
    it.scoped("N requests at R per minute: a full minute's burst, then one every 60/R seconds", () =>
      Effect.gen(function*() {
        const provider = fakeProvider(exact)
        const { results, stats } = yield* runBatch(
          provider,
          { requestsPerMinute: 60, concurrency: 200 },
          range(90).map((i) => requestOf(i)),
          "30 seconds"
        )
        assert.isTrue(results.every((r) => r._tag === "Success"))
        const expected = range(90).map((i) => i < 60 ? 0 : (i - 59) * 1000)
        assert.deepStrictEqual([...provider.sends].sort((a, b) => a - b), expected)
        assert.strictEqual(stats.elapsedMillis, 30_000)
        assert.strictEqual(stats.rateLimitWaitMillis, 30_000)
        assert.strictEqual(stats.rateLimited, 0)
        assert.deepStrictEqual(stats.limits, { requestsPerMinute: 60, tokensPerMinute: undefined })
      }))

    it.scoped("does not finish before its time", () =>
      Effect.gen(function*() {
        const provider = fakeProvider(exact)
        const manager = yield* RequestManager.make({ cache: false, ...oneMinuteBurst, requestsPerMinute: 120 }).pipe(
          Effect.provide(Layer.merge(provider.layer, Cache.none))
        )
        const fiber = yield* Effect.fork(manager.run(range(130).map((i) => requestOf(i))))
        yield* TestClock.adjust("4999 millis")
        assert.strictEqual(provider.sends.length, 129)
        assert.isTrue(fiber.unsafePoll() === null)
        yield* TestClock.adjust("1 millis")
        const { stats } = yield* Fiber.join(fiber)
        assert.strictEqual(provider.sends.length, 130)
        assert.strictEqual(stats.elapsedMillis, 5_000)
      }))

    it.scoped("tokens per minute: estimated tokens pace the batch", () =>
      Effect.gen(function*() {
        const provider = fakeProvider(exact)
        // 6,000 TPM refills 100 tokens a second; each request is estimated at exactly 100 tokens.
        assert.strictEqual(
          TokenEstimate.estimate(chat(requestOf(1)), 0),
          100
        )
        const { stats } = yield* runBatch(
          provider,
          { tokensPerMinute: 6_000, concurrency: 200 },
          range(90).map((i) => requestOf(i)),
          "30 seconds"
        )
        const expected = range(90).map((i) => i < 60 ? 0 : (i - 59) * 1000)
        assert.deepStrictEqual([...provider.sends].sort((a, b) => a - b), expected)
        assert.strictEqual(stats.elapsedMillis, 30_000)
        assert.deepStrictEqual(stats.limits, { requestsPerMinute: undefined, tokensPerMinute: 6_000 })
      }))

    it.scoped("both budgets: the stricter one sets the pace", () =>
      Effect.gen(function*() {
        const provider = fakeProvider(exact)
        // 60 RPM allows one a second; 3,000 TPM of 100-token requests allows one every 2 seconds.
        const { stats } = yield* runBatch(
          provider,
          { requestsPerMinute: 60, tokensPerMinute: 3_000, concurrency: 200 },
          range(40).map((i) => requestOf(i)),
          "20 seconds"
        )
        const expected = range(40).map((i) => i < 30 ? 0 : (i - 29) * 2000)
        assert.deepStrictEqual([...provider.sends].sort((a, b) => a - b), expected)
        assert.strictEqual(stats.elapsedMillis, 20_000)
      }))

    it.scoped("real usage above the estimate is charged after the response", () =>
      Effect.gen(function*() {
        // Estimated 100, used 200: one at a time, after the first 6,000 tokens it costs 2 s a request.
        const provider = fakeProvider((request) =>
          Effect.succeed({ response: answer(request, { prompt: 1, completion: 199 }) })
        )
        const { stats } = yield* runBatch(
          provider,
          { tokensPerMinute: 6_000, concurrency: 1, window: 1 },
          range(35).map((i) => requestOf(i)),
          "9 seconds"
        )
        // 30 requests (30 × 200 = 6,000) at 0; the 31st reserves 100 (due at 1 s), then each pays 200.
        const expected = range(35).map((i) => i < 30 ? 0 : 1000 + (i - 30) * 2000)
        assert.deepStrictEqual(provider.sends, expected)
        assert.strictEqual(stats.elapsedMillis, 9_000)
        assert.strictEqual(stats.tokens.totalTokens, 35 * 200)
      }))

    it.scoped("real usage below the estimate is not given back (servers charge max_tokens up front)", () =>
      Effect.gen(function*() {
        const provider = fakeProvider((request) =>
          Effect.succeed({ response: answer(request, { prompt: 1, completion: 9 }) })
        )
        const { stats } = yield* runBatch(
          provider,
          { tokensPerMinute: 6_000, concurrency: 1, window: 1 },
          range(62).map((i) => requestOf(i)),
          "2 seconds"
        )
        assert.deepStrictEqual(provider.sends, range(62).map((i) => i < 60 ? 0 : (i - 59) * 1000))
        assert.strictEqual(stats.tokens.totalTokens, 62 * 10)
      }))
  })

  describe("shared 429 gate (TestClock)", () => {
    it.scoped("a 429 pauses every fiber until Retry-After, then the batch resumes", () =>
      Effect.gen(function*() {
        // 4 at a time, 1 s each; the very first call is refused after 500 ms with Retry-After 10 s.
        const provider = fakeProvider((request, call) =>
          call === 0
            ? Effect.delay(
              Effect.fail(new LLMError.RateLimitError({ kind: "requests", remaining: 0, retryAfter: Duration.seconds(10) })),
              "500 millis"
            )
            : Effect.delay(exact(request, call, 0), "1 second")
        )
        const { results, stats } = yield* runBatch(
          provider,
          { concurrency: 4, window: 4, retrySchedule: Schedule.spaced(0) },
          range(8).map((i) => requestOf(i)),
          "15 seconds"
        )
        assert.isTrue(results.every((r) => r._tag === "Success"))
        // 4 sent at 0; nothing more until the gate opens at 10.5 s, then 4 (the retry waits for a slot).
        assert.deepStrictEqual(provider.sends, [0, 0, 0, 0, 10_500, 10_500, 10_500, 10_500, 11_500])
        assert.strictEqual(stats.rateLimited, 1)
        assert.strictEqual(stats.retries, 1)
        // Items waited on the gate from 1 s (when the first slots freed) until 10.5 s.
        assert.strictEqual(stats.rateLimitWaitMillis, 9_500)
      }))

    it.scoped("after a 429 the batch resumes at the configured rate, not in a burst", () =>
      Effect.gen(function*() {
        const controller = yield* makeRateController({
          requestsPerMinute: 60,
          tokensPerMinute: undefined,
          learnFromHeaders: true,
          burst: "1 minute"
        })
        const ticket = yield* controller.acquire(0) // a full bucket: no wait
        yield* controller.onError(ticket, new LLMError.RateLimitError({ kind: "requests", remaining: 0, retryAfter: Duration.seconds(5) }))
        const times = yield* acquireTimes(controller, 3)
        // The gate opens at 5 s; the bucket was emptied, and 5 s refilled 5 requests, so all 3 go then.
        assert.deepStrictEqual(times, [5_000, 5_000, 5_000])
        const snapshot = controller.snapshot()
        assert.strictEqual(snapshot.rateLimited, 1)
        assert.strictEqual(snapshot.waitMillis, 5_000)
      }))

    it.scoped("after a 429 the emptied bucket paces the next requests", () =>
      Effect.gen(function*() {
        const controller = yield* makeRateController({
          requestsPerMinute: 60,
          tokensPerMinute: undefined,
          learnFromHeaders: true,
          burst: "1 minute"
        })
        yield* controller.onError(unadmitted, new LLMError.RateLimitError({ kind: "requests", remaining: 0, retryAfter: Duration.zero }))
        const times = yield* acquireTimes(controller, 3)
        // Without the 429 all three would go at once (a full bucket of 60); emptied, one a second.
        assert.deepStrictEqual(times, [1_000, 2_000, 3_000])
      }))
  })

  describe("insufficient quota", () => {
    it.scoped("stops sending: the other items fail fast with kind quota", () =>
      Effect.gen(function*() {
        const provider = fakeProvider(() =>
          Effect.fail(new LLMError.RateLimitError({ kind: "quota", detail: "You exceeded your current quota" }))
        )
        const { results, stats } = yield* runBatch(
          provider,
          { concurrency: 1, window: 1 },
          range(5).map((i) => requestOf(i)),
          "1 second"
        )
        assert.strictEqual(provider.sends.length, 1)
        assert.strictEqual(results.length, 5)
        for (const result of results) {
          assert.strictEqual(result._tag, "Failure")
          if (result._tag === "Failure") {
            assert.strictEqual(result.error._tag, "RateLimitError")
            if (result.error._tag === "RateLimitError") assert.strictEqual(result.error.kind, "quota")
          }
        }
        const last = results[4]
        assert.isTrue(last?._tag === "Failure" && /not sent: .*insufficient_quota/.test(last.error.message))
        assert.isTrue(last?._tag === "Failure" && last.error.message.includes("You exceeded your current quota"))
        assert.strictEqual(stats.rateLimited, 1)
        assert.deepStrictEqual(stats.failuresByKind, { InsufficientQuota: 5 })
      }))
  })

  describe("limits learned from headers (TestClock)", () => {
    /** A fake server with OpenAI-style buckets (full at the start, refilled continuously). */
    const fakeServer = (options: { readonly requestsPerMinute: number; readonly latency: Duration.DurationInput }) => {
      let level = options.requestsPerMinute
      let last = 0
      const refillMillis = 60_000 / options.requestsPerMinute
      return fakeProvider((request, _call, now) => {
        level = Math.min(options.requestsPerMinute, level + (now - last) / refillMillis)
        last = now
        if (level < 1) {
          return Effect.fail(
            new LLMError.RateLimitError({ kind: "requests", remaining: 0, retryAfter: Duration.millis((1 - level) * refillMillis) })
          )
        }
        level -= 1
        const info: RateLimitHeaders.RateLimitInfo = {
          limitRequests: options.requestsPerMinute,
          remainingRequests: Math.floor(level),
          resetRequestsMillis: (options.requestsPerMinute - level) * refillMillis
        }
        return Effect.delay(
          Effect.succeed({ response: answer(request, { prompt: 1, completion: 99 }), rateLimit: info }),
          options.latency
        )
      })
    }

    it.scoped("runs at the server's limit with no limits configured, and no 429", () =>
      Effect.gen(function*() {
        const server = fakeServer({ requestsPerMinute: 60, latency: "200 millis" })
        const { results, stats } = yield* runBatch(
          server,
          // window = concurrency: the rate limit is taken when the request is sent (see rateLimiter.ts)
          { concurrency: 10, window: 10 },
          range(150).map((i) => requestOf(i)),
          "100 seconds"
        )
        assert.isTrue(results.every((r) => r._tag === "Success"))
        assert.strictEqual(stats.rateLimited, 0)
        assert.deepStrictEqual(stats.limits, { requestsPerMinute: 60, tokensPerMinute: undefined })
        // 60 in the first second (the server's full bucket), then one a second: the last at 90 s,
        // exactly as early as the server allows.
        assert.strictEqual(Math.max(...server.sends), 90_000)
        assert.strictEqual(server.sends.filter((t) => t <= 1_000).length, 60)
      }))

    it.scoped("learnRateLimits: false ignores the headers", () =>
      Effect.gen(function*() {
        const server = fakeServer({ requestsPerMinute: 600, latency: "10 millis" })
        const { stats } = yield* runBatch(
          server,
          { concurrency: 10, learnRateLimits: false },
          range(20).map((i) => requestOf(i)),
          "1 second"
        )
        assert.deepStrictEqual(stats.limits, { requestsPerMinute: undefined, tokensPerMinute: undefined })
      }))

    it.scoped("a configured limit below the server's stays in force", () =>
      Effect.gen(function*() {
        const server = fakeServer({ requestsPerMinute: 600, latency: "10 millis" })
        const { stats } = yield* runBatch(
          server,
          { concurrency: 10, window: 100, requestsPerMinute: 60 },
          range(61).map((i) => requestOf(i)),
          "2 seconds"
        )
        assert.deepStrictEqual(stats.limits, { requestsPerMinute: 60, tokensPerMinute: undefined })
        // The server would take 600 in the first second; the configured 60 RPM lets 60 through.
        assert.strictEqual(server.sends.filter((t) => t < 1_000).length, 60)
        assert.isAtLeast(Math.max(...server.sends), 1_000)
      }))

    it.scoped("remaining headers lower the budget before the server refuses", () =>
      Effect.gen(function*() {
        const controller = yield* makeRateController({
          requestsPerMinute: 60,
          tokensPerMinute: undefined,
          learnFromHeaders: true,
          burst: "1 minute"
        })
        const response: ApiRequest.ApiResponse = { _tag: "Chat", response: answer(decodeChat(requestOf(0))) }
        // Someone else shares the key: the server says only 2 requests are left.
        const ticket = yield* controller.acquire(0)
        yield* controller.onReply(ticket, response, { limitRequests: 60, remainingRequests: 2 })
        const times = yield* acquireTimes(controller, 4)
        assert.deepStrictEqual(times, [0, 0, 1_000, 2_000])
      }))
  })

  describe("token estimate", () => {
    it("counts prompt characters / 4 (rounded up once) and the maximum output", () => {
      const request = chat({
        model: "m",
        messages: [{ role: "system", content: "12345678" }, { role: "user", content: "abcde", name: "bob" }],
        max_completion_tokens: 50,
        max_tokens: 10
      })
      // ceil(13 / 4) + max_completion_tokens (it wins over max_tokens)
      assert.strictEqual(TokenEstimate.estimate(request, 999), 4 + 50)
    })

    it("multiplies the output by n and uses the running average without a maximum", () => {
      const request = chat({ model: "m", messages: [{ role: "user", content: "abcd" }], n: 3 })
      assert.strictEqual(TokenEstimate.estimate(request, 20), 1 + 60)
    })

    it("counts images by detail and embeddings inputs", () => {
      const request = chat({
        model: "m",
        messages: [{
          role: "user",
          content: [
            { type: "text", text: "abcd" },
            { type: "image_url", image_url: { url: "data:x", detail: "low" } },
            { type: "image_url", image_url: { url: "data:y" } }
          ]
        }],
        max_tokens: 0
      })
      assert.strictEqual(TokenEstimate.estimate(request, 0), 1 + 85 + 765)
      assert.strictEqual(
        TokenEstimate.estimate(ApiRequest.embedding({ model: "e", input: ["abcd", "abcdefgh"] }), 0),
        3
      )
      assert.strictEqual(TokenEstimate.estimate(ApiRequest.embedding({ model: "e", input: [[1, 2, 3], [4]] }), 0), 4)
    })

    it.scoped("learns the average completion from responses", () =>
      Effect.gen(function*() {
        const controller = yield* makeRateController({
          requestsPerMinute: undefined,
          tokensPerMinute: undefined,
          learnFromHeaders: true,
          burst: "1 minute"
        })
        const input = { model: "m", messages: [{ role: "user", content: "abcd" }] } as const
        const request = chat(input)
        assert.strictEqual(controller.estimate(request), 1 + TokenEstimate.defaultCompletionTokens)
        const reply = (completion: number): ApiRequest.ApiResponse => ({
          _tag: "Chat",
          response: answer(decodeChat(input), { prompt: 1, completion })
        })
        yield* controller.onReply(unadmitted, reply(10), undefined)
        yield* controller.onReply(unadmitted, reply(30), undefined)
        assert.strictEqual(controller.estimate(request), 1 + 20)
      }))
  })
})
