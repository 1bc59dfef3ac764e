import { assert, describe, it } from "@effect/vitest"
import { ApiRequest, Cache, ChatRequest, ChatResponse, LLMError, Provider, RequestManager } from "@fastllm/core"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"

/** A fake provider that records what it was asked, and answers as `behave` says. */
const recordingProvider = (
  behave: (request: ChatRequest.ChatRequest, call: number) => Effect.Effect<ChatResponse.ChatResponse, LLMError.ProviderError>
) => {
  const state = { calls: 0, inFlight: 0, maxInFlight: 0, times: [] as Array<number>, byContent: new Map<string, number>() }
  const layer = Provider.layerFromFunctions({
    name: "fake",
    chat: (request) =>
      Effect.gen(function*() {
        state.calls++
        state.inFlight++
        state.maxInFlight = Math.max(state.maxInFlight, state.inFlight)
        state.times.push(yield* Clock.currentTimeMillis)
        const content = JSON.stringify(request.messages)
        state.byContent.set(content, (state.byContent.get(content) ?? 0) + 1)
        return yield* behave(request, state.calls)
      }).pipe(Effect.ensuring(Effect.sync(() => state.inFlight--))),
    embed: (request) =>
      Effect.succeed({
        object: "list",
        model: request.model,
        data: [{ object: "embedding", index: 0, embedding: [0.25, 0.5] }],
        usage: { prompt_tokens: 2, total_tokens: 2 }
      })
  })
  return { state, layer }
}

const lastUserText = (request: ChatRequest.ChatRequest): string => {
  const message = request.messages[request.messages.length - 1]
  return message !== undefined && typeof message.content === "string" ? message.content : ""
}

const answer = (request: ChatRequest.ChatRequest): ChatResponse.ChatResponse => ({
  id: `chatcmpl-${lastUserText(request)}`,
  object: "chat.completion",
  model: request.model,
  choices: [{ index: 0, message: { role: "assistant", content: `re: ${lastUserText(request)}` }, finish_reason: "stop" }],
  usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }
})

const chat = (text: string): ChatRequest.ChatRequestInput => ({
  model: "test-model",
  messages: [{ role: "user", content: text }]
})

/** These tests pin the fixed-concurrency behaviour; adaptive concurrency has its own tests. */
const managerWith = (
  providerLayer: Layer.Layer<Provider.Provider>,
  options: RequestManager.Options = {},
  cacheLayer: Layer.Layer<Cache.Cache> = Cache.memory()
) =>
  RequestManager.layer({ adaptiveConcurrency: false, ...options }).pipe(
    Layer.provide(providerLayer),
    Layer.provide(cacheLayer)
  )

/** A fixed backoff with no jitter, so virtual times are exact. */
const fixedBackoff = Schedule.exponential("100 millis", 2)

/** Moves the TestClock in steps until the fiber is done (at most 10,000 steps). */
const advanceUntilDone = <A, E>(fiber: Fiber.RuntimeFiber<A, E>, step: Duration.DurationInput) =>
  Effect.gen(function*() {
    for (let i = 0; i < 10_000 && Option.isNone(yield* Fiber.poll(fiber)); i++) yield* TestClock.adjust(step)
    return yield* Fiber.join(fiber)
  })

const texts = (results: ReadonlyArray<RequestManager.ItemResult>) =>
  results.map((result) => result._tag === "Success" && result.kind === "chat" ? ChatResponse.text(result.response) : result._tag)

describe("RequestManager", () => {
  it.effect("returns results in input order even when later items finish first", () => {
    const { layer } = recordingProvider((request) =>
      Effect.as(Effect.sleep(Duration.millis(1000 - Number(lastUserText(request)) * 10)), answer(request))
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run(Array.from({ length: 50 }, (_, i) => chat(String(i)))))
      yield* TestClock.adjust("2 seconds")
      const { results, stats } = yield* Fiber.join(fiber)
      assert.deepStrictEqual(texts(results), Array.from({ length: 50 }, (_, i) => `re: ${i}`))
      assert.deepStrictEqual(results.map((r) => r.index), Array.from({ length: 50 }, (_, i) => i))
      assert.strictEqual(stats.succeeded, 50)
      assert.strictEqual(stats.done, 50)
    }).pipe(Effect.provide(managerWith(layer, { concurrency: 50 })))
  })

  it.effect("isolates failures: bad input and non-retryable API errors fail only their item", () => {
    const { state, layer } = recordingProvider((request) =>
      lastUserText(request) === "boom"
        ? Effect.fail(new LLMError.ApiError({ status: 400, type: "invalid_request_error", detail: "bad", retryable: false }))
        : Effect.succeed(answer(request))
    )
    return Effect.gen(function*() {
      const inputs: Array<ApiRequest.Input> = [
        chat("a"),
        { model: "", messages: [{ role: "user", content: "x" }] },
        chat("boom"),
        { model: "m", messages: [{ role: "user", content: 42 }] } as unknown as ApiRequest.Input,
        chat("b")
      ]
      const { results, stats } = yield* RequestManager.run(inputs)
      assert.deepStrictEqual(results.map((r) => r._tag), ["Success", "Failure", "Failure", "Failure", "Success"])
      const invalid = results[1]
      assert(invalid?._tag === "Failure" && invalid.error._tag === "InvalidRequestError")
      assert.strictEqual(invalid.error.path, "model")
      assert.strictEqual(invalid.key, undefined)
      const wrongType = results[3]
      assert(wrongType?._tag === "Failure" && wrongType.error._tag === "InvalidRequestError")
      assert.include(wrongType.error.message, "messages[0]")
      const api = results[2]
      assert(api?._tag === "Failure" && api.error._tag === "ApiError")
      assert.strictEqual(api.attempts, 1)
      assert.strictEqual(state.calls, 3, "invalid items are never sent")
      assert.strictEqual(stats.failed, 3)
      assert.deepStrictEqual(stats.failuresByKind, { InvalidRequestError: 2, ApiError: 1 })
    }).pipe(Effect.provide(managerWith(layer)))
  })

  it.effect("retries retryable errors with the schedule's delays", () => {
    const { state, layer } = recordingProvider((request, call) =>
      call <= 3
        ? Effect.fail(new LLMError.ApiError({ status: 503, detail: "overloaded", retryable: true }))
        : Effect.succeed(answer(request))
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run([chat("x")]))
      yield* TestClock.adjust("10 seconds")
      const { results, stats } = yield* Fiber.join(fiber)
      const result = results[0]
      assert(result?._tag === "Success")
      assert.strictEqual(result.attempts, 4)
      assert.deepStrictEqual(state.times, [0, 100, 300, 700])
      assert.strictEqual(stats.retries, 3)
      assert.strictEqual(stats.apiCalls, 4)
    }).pipe(Effect.provide(managerWith(layer, { retrySchedule: fixedBackoff })))
  })

  it.effect("gives up after maxRetries and returns the last error", () => {
    const { state, layer } = recordingProvider(() => Effect.fail(new LLMError.TransportError({ reason: "connection reset" })))
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run([chat("x")]))
      yield* TestClock.adjust("1 minute")
      const { results } = yield* Fiber.join(fiber)
      const result = results[0]
      assert(result?._tag === "Failure" && result.error._tag === "TransportError")
      assert.strictEqual(result.attempts, 3)
      assert.strictEqual(state.calls, 3)
    }).pipe(Effect.provide(managerWith(layer, { retrySchedule: fixedBackoff, maxRetries: 2 })))
  })

  it.effect("never retries sooner than the server's Retry-After", () => {
    const { state, layer } = recordingProvider((request, call) =>
      call === 1
        ? Effect.fail(new LLMError.RateLimitError({ kind: "requests", retryAfter: Duration.seconds(5) }))
        : Effect.succeed(answer(request))
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run([chat("x")]))
      yield* TestClock.adjust("4999 millis")
      assert.strictEqual(state.calls, 1, "still waiting for the Retry-After")
      yield* TestClock.adjust("1 minute")
      const { results } = yield* Fiber.join(fiber)
      assert.strictEqual(results[0]?._tag, "Success")
      assert.deepStrictEqual(state.times, [0, 5000])
    }).pipe(Effect.provide(managerWith(layer, { retrySchedule: fixedBackoff })))
  })

  it.effect("does not retry 400, 401 or insufficient_quota", () => {
    const errors: Record<string, LLMError.ProviderError> = {
      bad: new LLMError.ApiError({ status: 400, detail: "bad request", retryable: false }),
      auth: new LLMError.ApiError({ status: 401, type: "invalid_request_error", code: "invalid_api_key", detail: "no", retryable: false }),
      quota: new LLMError.RateLimitError({ kind: "quota", detail: "You exceeded your current quota" })
    }
    const { state, layer } = recordingProvider((request) => Effect.fail(errors[lastUserText(request)]!))
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run([chat("bad"), chat("auth"), chat("quota")]))
      yield* TestClock.adjust("1 minute")
      const { results } = yield* Fiber.join(fiber)
      assert.deepStrictEqual(results.map((r) => r._tag === "Failure" ? r.error._tag : r._tag), ["ApiError", "ApiError", "RateLimitError"])
      assert.deepStrictEqual(results.map((r) => r.attempts), [1, 1, 1])
      assert.strictEqual(state.calls, 3)
      const quota = results[2]
      assert(quota?._tag === "Failure")
      assert.include(quota.error.message, "no retry can succeed")
    }).pipe(Effect.provide(managerWith(layer, { retrySchedule: fixedBackoff })))
  })

  it.effect("times out each attempt and retries it", () => {
    const { state, layer } = recordingProvider((request, call) =>
      call === 1 ? Effect.never : Effect.succeed(answer(request))
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run([chat("x")]))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(state.calls, 1)
      yield* TestClock.adjust("1 second")
      yield* TestClock.adjust("1 second")
      const { results } = yield* Fiber.join(fiber)
      const result = results[0]
      assert(result?._tag === "Success")
      assert.strictEqual(result.attempts, 2)
      assert.deepStrictEqual(state.times, [0, 3100])
      assert.strictEqual(state.inFlight, 0, "the timed-out attempt was interrupted")
    }).pipe(Effect.provide(managerWith(layer, { timeout: "3 seconds", retrySchedule: fixedBackoff })))
  })

  it.effect("reports a TimeoutError when every attempt times out", () => {
    const { layer } = recordingProvider(() => Effect.never)
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run([chat("x")]))
      yield* TestClock.adjust("1 minute")
      const { results } = yield* Fiber.join(fiber)
      const result = results[0]
      assert(result?._tag === "Failure" && result.error._tag === "TimeoutError")
      assert.strictEqual(result.attempts, 2)
      assert.include(result.error.message, "1s")
    }).pipe(Effect.provide(managerWith(layer, { timeout: "1 second", maxRetries: 1, retrySchedule: fixedBackoff })))
  })

  it.effect("sends identical concurrent requests once (single-flight)", () => {
    const { state, layer } = recordingProvider((request) => Effect.as(Effect.sleep("1 second"), answer(request)))
    return Effect.gen(function*() {
      const inputs = [
        ...Array.from({ length: 20 }, () => chat("same")),
        chat("other"),
        // the same request with keys in another order is the same request
        { messages: [{ content: "same", role: "user" as const }], model: "test-model" }
      ]
      const fiber = yield* Effect.fork(RequestManager.run(inputs))
      yield* TestClock.adjust("2 seconds")
      const { results, stats } = yield* Fiber.join(fiber)
      assert.strictEqual(state.calls, 2)
      assert(results.every((r) => r._tag === "Success"))
      assert.strictEqual(stats.deduplicated, 20)
      assert.strictEqual(new Set(results.map((r) => r.key)).size, 2)
      assert.strictEqual(stats.tokens.totalTokens, 30, "shared answers cost nothing")
    }).pipe(Effect.provide(managerWith(layer, { cache: false })))
  })

  it.effect("answers from the cache without calling the provider", () => {
    const { state, layer } = recordingProvider((request) => Effect.succeed(answer(request)))
    return Effect.gen(function*() {
      const inputs = Array.from({ length: 10 }, (_, i) => chat(String(i)))
      const first = yield* RequestManager.run(inputs)
      assert.strictEqual(state.calls, 10)
      assert.strictEqual(first.stats.cached, 0)
      const second = yield* RequestManager.run(inputs)
      assert.strictEqual(state.calls, 10)
      assert.strictEqual(second.stats.cached, 10)
      assert(second.results.every((r) => r._tag === "Success" && r.fromCache && r.attempts === 0))
      assert.deepStrictEqual(texts(second.results), texts(first.results))
      assert.strictEqual(second.stats.tokens.totalTokens, 0)
    }).pipe(Effect.provide(managerWith(layer)))
  })

  it.effect("treats a failing cache as a miss and goes on", () => {
    const { state, layer } = recordingProvider((request) => Effect.succeed(answer(request)))
    const broken = Layer.succeed(Cache.Cache, {
      get: () => Effect.fail(new LLMError.CacheError({ operation: "get", reason: "disk on fire", path: "/nowhere" })),
      set: () => Effect.fail(new LLMError.CacheError({ operation: "set", reason: "disk on fire", path: "/nowhere" })),
      delete: () => Effect.void,
      clear: Effect.void
    })
    return Effect.gen(function*() {
      const { results, stats } = yield* RequestManager.run([chat("a"), chat("b")])
      assert(results.every((r) => r._tag === "Success" && !r.fromCache))
      assert.strictEqual(state.calls, 2)
      assert.strictEqual(stats.cacheErrors, 4)
    }).pipe(Effect.provide(managerWith(layer, {}, broken)))
  })

  it.effect("never has more provider calls in flight than the concurrency", () => {
    const { state, layer } = recordingProvider((request) =>
      Effect.as(Effect.sleep(Duration.millis(10 + (Number(lastUserText(request)) % 7) * 10)), answer(request))
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run(Array.from({ length: 200 }, (_, i) => chat(String(i)))))
      const { stats } = yield* advanceUntilDone(fiber, "10 millis")
      assert.strictEqual(stats.succeeded, 200)
      assert.strictEqual(state.maxInFlight, 7)
    }).pipe(Effect.provide(managerWith(layer, { concurrency: 7, cache: false })))
  })

  it.effect("bounds concurrency across runs that share one manager", () => {
    const { state, layer } = recordingProvider((request) => Effect.as(Effect.sleep("10 millis"), answer(request)))
    return Effect.gen(function*() {
      const a = yield* Effect.fork(RequestManager.run(Array.from({ length: 30 }, (_, i) => chat(`a${i}`))))
      const b = yield* Effect.fork(RequestManager.run(Array.from({ length: 30 }, (_, i) => chat(`b${i}`))))
      for (let i = 0; i < 30; i++) yield* TestClock.adjust("10 millis")
      yield* Fiber.join(a)
      yield* Fiber.join(b)
      assert.strictEqual(state.calls, 60)
      assert.strictEqual(state.maxInFlight, 4)
    }).pipe(Effect.provide(managerWith(layer, { concurrency: 4, cache: false })))
  })

  it.effect("fails fast once the server looks unreachable, and tries again after the cooldown", () => {
    let up = false
    const { state, layer } = recordingProvider((request) =>
      up ? Effect.succeed(answer(request)) : Effect.fail(new LLMError.TransportError({ reason: "connect ECONNREFUSED 127.0.0.1:9" }))
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run(Array.from({ length: 100 }, (_, i) => chat(String(i)))))
      const { results, stats } = yield* advanceUntilDone(fiber, "100 millis")
      assert.strictEqual(stats.failed, 100)
      // 2 items at a time, 2 attempts each: the breaker opens after 4 final failures; only the
      // items already running when it opened were sent
      assert.isAtMost(state.calls, 2 * 6)
      const last = results[99]
      assert(last?._tag === "Failure" && last.error._tag === "TransportError")
      assert.strictEqual(last.attempts, 0)
      assert.include(last.error.message, "the server looks unreachable")
      assert.include(last.error.message, "ECONNREFUSED")
      // within the cooldown: still failing fast
      const during = yield* RequestManager.run([chat("a")])
      assert.strictEqual(during.results[0]?.attempts, 0)
      // after it: tried again, and one success closes the breaker
      up = true
      yield* TestClock.adjust("30 seconds")
      const after = yield* RequestManager.run([chat("b"), chat("c")])
      assert.deepStrictEqual(after.results.map((r) => r._tag), ["Success", "Success"])
    }).pipe(
      Effect.provide(
        managerWith(layer, {
          concurrency: 2,
          window: 2,
          maxRetries: 1,
          retrySchedule: fixedBackoff,
          circuitBreaker: { failures: 4, cooldown: "30 seconds" }
        })
      )
    )
  })

  it.effect("keeps going when connection failures are interleaved with successes", () => {
    const { state, layer } = recordingProvider((request, call) =>
      call % 3 === 0 ? Effect.succeed(answer(request)) : Effect.fail(new LLMError.TransportError({ reason: "reset" }))
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run(Array.from({ length: 30 }, (_, i) => chat(String(i)))))
      const { stats } = yield* advanceUntilDone(fiber, "100 millis")
      assert.strictEqual(stats.succeeded, 30)
      assert.strictEqual(state.calls, 90)
    }).pipe(Effect.provide(managerWith(layer, { concurrency: 1, window: 1, retrySchedule: fixedBackoff, circuitBreaker: { failures: 2 } })))
  })

  it.effect("updates Effect Metrics: items, cache hits, API calls, tokens, call latency", () => {
    const { layer } = recordingProvider((request) => Effect.as(Effect.sleep("40 millis"), answer(request)))
    const { apiCalls, cacheHits, items, latency, promptTokens } = RequestManager.metrics
    const counter = (metric: typeof items) => Effect.map(Metric.value(metric), (state) => state.count)
    return Effect.gen(function*() {
      const before = yield* Effect.all([
        counter(items),
        counter(cacheHits),
        counter(apiCalls),
        counter(promptTokens)
      ])
      const latencyBefore = (yield* Metric.value(latency)).count
      const inputs = [chat("m1"), chat("m2"), chat("m3")]
      const fiber = yield* Effect.fork(Effect.zipRight(RequestManager.run(inputs), RequestManager.run(inputs)))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)
      const after = yield* Effect.all([
        counter(items),
        counter(cacheHits),
        counter(apiCalls),
        counter(promptTokens)
      ])
      assert.deepStrictEqual(after.map((n, i) => n - before[i]!), [6, 3, 3, 30])
      const latencyAfter = yield* Metric.value(latency)
      assert.strictEqual(latencyAfter.count - latencyBefore, 3)
      assert.isAtLeast(latencyAfter.max, 40)
    }).pipe(Effect.provide(managerWith(layer)))
  })

  it.effect("runs embeddings requests", () => {
    const { layer } = recordingProvider((request) => Effect.succeed(answer(request)))
    return Effect.gen(function*() {
      const { results } = yield* RequestManager.run([{ model: "embed", input: "hello" }, chat("x")])
      const first = results[0]
      assert(first?._tag === "Success" && first.kind === "embedding")
      assert.deepStrictEqual(first.response.data[0]?.embedding, [0.25, 0.5])
      assert.strictEqual(first.tokens.promptTokens, 2)
      assert.strictEqual(results[1]?.kind, "chat")
    }).pipe(Effect.provide(managerWith(layer)))
  })

  it.effect("turns a provider defect into a failed item, not a failed batch", () => {
    const { layer } = recordingProvider((request) =>
      lastUserText(request) === "die" ? Effect.die(new Error("bug in provider")) : Effect.succeed(answer(request))
    )
    return Effect.gen(function*() {
      const fiber = yield* Effect.fork(RequestManager.run([chat("die"), chat("ok")]))
      yield* TestClock.adjust("1 minute")
      const { results } = yield* Fiber.join(fiber)
      const died = results[0]
      assert(died?._tag === "Failure" && died.error._tag === "TransportError")
      assert.include(died.error.message, "bug in provider")
      assert.strictEqual(results[1]?._tag, "Success")
    }).pipe(Effect.provide(managerWith(layer, { retrySchedule: fixedBackoff, maxRetries: 1 })))
  })

  it.effect("reports live progress and final stats", () => {
    const { layer } = recordingProvider((request) => Effect.as(Effect.sleep("1 second"), answer(request)))
    return Effect.gen(function*() {
      const manager = yield* RequestManager.RequestManager
      const fiber = yield* Effect.fork(manager.run(Array.from({ length: 10 }, (_, i) => chat(String(i)))))
      yield* TestClock.adjust("500 millis")
      const during = yield* manager.snapshot
      assert.strictEqual(during.total, 10)
      assert.strictEqual(during.inFlight, 5)
      assert.strictEqual(during.done, 0)
      yield* TestClock.adjust("600 millis")
      const half = yield* manager.snapshot
      assert.strictEqual(half.done, 5)
      assert.strictEqual(half.requestsPerSecond, 5 / 1.1)
      assert.strictEqual(half.etaMillis, 1100)
      yield* TestClock.adjust("1 second")
      const { stats } = yield* Fiber.join(fiber)
      assert.strictEqual(stats.done, 10)
      assert.strictEqual(stats.elapsedMillis, 2000)
      assert.strictEqual(stats.tokens.promptTokens, 100)
      assert.strictEqual(stats.tokens.completionTokens, 50)
      assert.strictEqual(stats.promptTokensPerSecond, 50)
      const snapshots = yield* manager.progress("1 second").pipe(Stream.take(1), Stream.runCollect)
      assert.strictEqual(Chunk.unsafeHead(snapshots).done, 10)
    }).pipe(Effect.provide(managerWith(layer, { concurrency: 5, cache: false })))
  })

  it.effect("streams 100,000 items in order with bounded work in progress", () => {
    // a lean provider: this test is about the stream, not the fake
    const state = { calls: 0, inFlight: 0, maxInFlight: 0 }
    const reply = answer(ChatRequest.ChatRequest.make({ model: "m", messages: [{ role: "user", content: "x" }] }))
    const layer = Provider.layerFromFunctions({
      name: "lean",
      chat: () =>
        Effect.suspend(() => {
          state.calls++
          state.maxInFlight = Math.max(state.maxInFlight, ++state.inFlight)
          return Effect.as(Effect.yieldNow(), reply)
        }).pipe(Effect.ensuring(Effect.sync(() => state.inFlight--)))
    })
    const window = 64
    return Effect.gen(function*() {
      const manager = yield* RequestManager.RequestManager
      let pulled = 0
      let emitted = 0
      let maxAhead = 0
      let ordered = true
      const inputs = Stream.range(0, 99_999).pipe(
        Stream.map((i) => {
          pulled++
          return chat(String(i))
        })
      )
      yield* manager.stream(inputs, { total: 100_000 }).pipe(
        Stream.runForEach((result) =>
          Effect.sync(() => {
            if (result.index !== emitted) ordered = false
            emitted++
            maxAhead = Math.max(maxAhead, pulled - emitted)
          })
        )
      )
      assert.strictEqual(emitted, 100_000)
      assert.isTrue(ordered)
      assert.strictEqual(state.calls, 100_000)
      assert.isAtMost(state.maxInFlight, 16)
      // items taken from upstream but not yet emitted: the window, plus one upstream chunk, plus
      // the finished results held for in-order output (bounded by bytes since issue 13: 64 KiB
      // here, about 60 results)
      assert.isAtMost(maxAhead, window + 4096 + 64)
      const stats = yield* manager.snapshot
      assert.strictEqual(stats.done, 100_000)
      assert.strictEqual(stats.inFlight, 0)
    }).pipe(Effect.provide(managerWith(layer, {
      concurrency: 16,
      window,
      maxBufferedBytes: 64 * 1024,
      cache: false,
      timeout: Duration.infinity
    })))
  }, 120_000)

  it.effect("streamWith carries the caller's value with each item, in input order", () => {
    const { layer } = recordingProvider((request) =>
      Effect.as(Effect.sleep(Duration.millis(1000 - Number(lastUserText(request)) * 10)), answer(request))
    )
    return Effect.gen(function*() {
      const manager = yield* RequestManager.RequestManager
      const inputs = Stream.range(0, 29).pipe(
        Stream.map((i) => ({ meta: { line: i + 1 }, request: i === 7 ? { model: "m" } : chat(String(i)) }))
      )
      const fiber = yield* Effect.fork(Stream.runCollect(manager.streamWith(inputs)))
      yield* TestClock.adjust("5 seconds")
      const out = Chunk.toReadonlyArray(yield* Fiber.join(fiber))
      assert.deepStrictEqual(out.map(({ meta }) => meta.line), Array.from({ length: 30 }, (_, i) => i + 1))
      assert.deepStrictEqual(out.map(({ result }) => result.index), Array.from({ length: 30 }, (_, i) => i))
      assert.strictEqual(out[7]!.result._tag, "Failure")
      assert.deepStrictEqual(texts([out[3]!.result, out[29]!.result]), ["re: 3", "re: 29"])
    }).pipe(Effect.provide(managerWith(layer, { concurrency: 8 })))
  })

  it.effect("decodes an explicitly tagged request and keeps unknown fields in the key", () => {
    const { state, layer } = recordingProvider((request) => Effect.succeed(answer(request)))
    return Effect.gen(function*() {
      const manager = yield* RequestManager.RequestManager
      const a = yield* manager.execute({ model: "m", messages: [{ role: "user", content: "x" }], top_k: 3 })
      const b = yield* manager.execute({ model: "m", messages: [{ role: "user", content: "x" }], top_k: 4 })
      assert.notStrictEqual(a.key, b.key)
      assert.strictEqual(state.calls, 2)
      const wrongKind = yield* manager.execute({ model: "m", input: "x" }, { kind: "chat" })
      assert(wrongKind._tag === "Failure" && wrongKind.error._tag === "InvalidRequestError")
      assert.strictEqual(Option.isNone(Option.fromNullable(wrongKind.key)), true)
    }).pipe(Effect.provide(managerWith(layer)))
  })
})

describe("RequestManager.run with a cache that reads many keys at once (getMany)", () => {
  it.effect("a warm rerun reads its items in chunks, not one get each; misses still go through get", () => {
    const { state, layer } = recordingProvider((request) => Effect.succeed(answer(request)))
    const counts = { get: 0, getMany: 0, keys: 0 }
    // the memory cache, seen as a network cache: no unsafeGet, a getMany over its entries
    const networkLike = Layer.effect(
      Cache.Cache,
      Effect.map(Cache.makeMemory(), (memory) =>
        Cache.Cache.of({
          get: (key) => Effect.zipRight(Effect.sync(() => counts.get++), memory.get(key)),
          getMany: (keys) =>
            Effect.zipRight(
              Effect.sync(() => {
                counts.getMany++
                counts.keys += keys.length
              }),
              Effect.forEach(keys, (key) => Effect.map(memory.get(key), (found) => Option.isSome(found) ? found : undefined))
            ),
          set: memory.set,
          delete: memory.delete,
          clear: memory.clear
        }))
    )
    return Effect.gen(function*() {
      const inputs = Array.from({ length: 1_000 }, (_, i) => chat(`many ${i}`))
      const first = yield* RequestManager.run(inputs.slice(0, 600))
      assert.strictEqual(first.stats.succeeded, 600)
      assert.strictEqual(state.calls, 600)
      const before = { ...counts }
      const { results, stats } = yield* RequestManager.run(inputs)
      assert.strictEqual(stats.succeeded, 1_000)
      assert.strictEqual(stats.cached, 600)
      assert.strictEqual(state.calls, 1_000) // only the 400 new ones were sent
      assert.isTrue(results.slice(0, 600).every((r) => r._tag === "Success" && r.fromCache))
      assert.strictEqual(counts.keys - before.keys, 1_000) // every item looked up through getMany
      assert.isAtMost(counts.getMany - before.getMany, 4) // in chunks (256 items a step)
      assert.strictEqual(counts.get - before.get, 400) // a miss still asks get (a claiming cache claims there)
    }).pipe(Effect.provide(managerWith(layer, { concurrency: 8 }, networkLike)))
  })
})
