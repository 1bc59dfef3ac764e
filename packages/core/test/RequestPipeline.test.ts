/**
 * The pieces of the RequestManager's item pipeline on their own: single-flight, the retry
 * schedule, and the rate budget's arithmetic. (The whole pipeline is tested in
 * RequestManager.test.ts and RateLimit.test.ts.)
 */
import { assert, describe, it } from "@effect/vitest"
import { LLMError } from "@fastllm/core"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as TestClock from "effect/TestClock"
import { Budget, readingsKept, roundTripRefill } from "../src/internal/rateBudget.js"
import * as Retry from "../src/internal/retry.js"
import * as SingleFlight from "../src/internal/singleFlight.js"

/** Yields until `n` keys are being computed. */
const untilInFlight = (flights: SingleFlight.SingleFlight<string>, n: number) =>
  Effect.repeat(Effect.zipLeft(Effect.sync(() => flights.size()), Effect.yieldNow()), { until: (size) => size === n })

describe("singleFlight", () => {
  it.effect("callers with the same key while one runs share its value; later callers compute again", () =>
    Effect.gen(function*() {
      const flights = SingleFlight.make<string>()
      const gate = yield* Deferred.make<void>()
      let computed = 0
      const compute = Effect.zipRight(Deferred.await(gate), Effect.sync(() => `value ${++computed}`))
      const fiber = yield* Effect.fork(Effect.all([flights.run("k", compute), flights.run("k", compute), flights.run("other", compute)], { concurrency: "unbounded" }))
      yield* untilInFlight(flights, 2)
      yield* Deferred.succeed(gate, undefined)
      const [first, second, other] = yield* Fiber.join(fiber)
      assert.deepStrictEqual([first.shared, second.shared, other.shared], [false, true, false])
      assert.strictEqual(first.value, second.value)
      assert.notStrictEqual(first.value, other.value)
      assert.strictEqual(computed, 2)
      assert.strictEqual(flights.size(), 0)
      const later = yield* flights.run("k", compute)
      assert.deepStrictEqual(later, { value: "value 3", shared: false })
    }))

  it.effect("a waiter takes over when the leader is interrupted", () =>
    Effect.gen(function*() {
      const flights = SingleFlight.make<string>()
      const leader = yield* Effect.fork(flights.run("k", Effect.never))
      yield* untilInFlight(flights, 1)
      const waiter = yield* Effect.fork(flights.run("k", Effect.succeed("from the waiter")))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(leader)
      assert.deepStrictEqual(yield* Fiber.join(waiter), { value: "from the waiter", shared: false })
    }))
})

describe("retry", () => {
  const server = new LLMError.ApiError({ status: 500, detail: "boom", retryable: true })
  const bad = new LLMError.InvalidRequestError({ reason: "bad" })

  /** An attempt that fails with `errors` in turn, then succeeds; the times of the attempts. */
  const attempts = (errors: ReadonlyArray<LLMError.ProviderError>) => {
    const times: Array<number> = []
    const once = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      times.push(now)
      const error = errors[times.length - 1]
      return error === undefined ? Effect.succeed("ok") : Effect.fail(error)
    })
    return { once, times }
  }

  it.effect("retries retryable errors by the schedule, the first backoff included", () =>
    Effect.gen(function*() {
      const { once, times } = attempts([server, server])
      const schedule = Retry.policy({ schedule: Schedule.spaced("1 second"), maxRetries: 4 })
      const fiber = yield* Effect.fork(Retry.withRetries(once, schedule, 4))
      yield* TestClock.adjust("5 seconds")
      assert.strictEqual(yield* Fiber.join(fiber), "ok")
      assert.deepStrictEqual(times, [0, 1_000, 2_000])
    }))

  it.effect("stops after maxRetries, and at once on an error that is not retryable", () =>
    Effect.gen(function*() {
      const many = attempts([server, server, server, server])
      const schedule = Retry.policy({ schedule: Schedule.spaced("1 second"), maxRetries: 2 })
      const fiber = yield* Effect.fork(Effect.either(Retry.withRetries(many.once, schedule, 2)))
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* Fiber.join(fiber), Either.left(server))
      assert.strictEqual(many.times.length, 3)
      const invalid = attempts([bad])
      assert.deepStrictEqual(yield* Effect.either(Retry.withRetries(invalid.once, schedule, 2)), Either.left(bad))
      assert.strictEqual(invalid.times.length, 1)
    }))

  it.effect("never sooner than Retry-After", () =>
    Effect.gen(function*() {
      const limited = new LLMError.RateLimitError({ kind: "requests", retryAfter: Duration.seconds(7) })
      const { once, times } = attempts([limited])
      const schedule = Retry.policy({ schedule: Schedule.spaced("1 second"), maxRetries: 4 })
      const fiber = yield* Effect.fork(Retry.withRetries(once, schedule, 4))
      yield* TestClock.adjust("10 seconds")
      yield* Fiber.join(fiber)
      assert.deepStrictEqual(times, [0, 7_000])
    }))

  it("the default delays: Retry-After (+ up to 10%), a quick retry after a reset while the server answers, else exponential", () => {
    const limited = new LLMError.RateLimitError({ kind: "requests", retryAfter: Duration.millis(200) })
    const reset = new LLMError.TransportError({ reason: "socket hang up" })
    assert.strictEqual(Retry.delayFor(limited, 0, true, 0), 200)
    assert.closeTo(Retry.delayFor(limited, 3, false, 0.99), 219.8, 1e-9) // never sooner, at most 10% later
    assert.strictEqual(Retry.delayFor(reset, 0, true, 0.5), 25)
    assert.strictEqual(Retry.delayFor(reset, 2, true, 0.5), 100)
    assert.strictEqual(Retry.delayFor(reset, 0, false, 0.5), 500) // the server is not answering: back off
    assert.strictEqual(Retry.delayFor(server, 1, true, 0.5), 1_000) // a 5xx is not a dropped connection
    assert.strictEqual(Retry.delayFor(server, 10, true, 0.99), 30_000) // capped
  })

  it.effect("the default policy retries a reset quickly while the server answers, slowly once it does not", () =>
    Effect.gen(function*() {
      const reset = new LLMError.TransportError({ reason: "socket hang up" })
      const health = new Retry.Health()
      const quick = attempts([reset, reset])
      const policy = Retry.policy({ maxRetries: 4, healthy: () => health.healthy })
      const fiber = yield* Effect.fork(Retry.withRetries(quick.once, policy, 4))
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(fiber), "ok")
      assert.strictEqual(quick.times.length, 3)
      assert.isAtMost(quick.times[2]!, 25 * 1.5 + 50 * 1.5)
      for (let i = 0; i < 20; i++) health.record(false, false) // nothing answers any more
      assert.isFalse(health.healthy)
      const slow = attempts([reset])
      const later = yield* Effect.fork(Retry.withRetries(slow.once, policy, 4))
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(later)
      assert.isAtLeast(slow.times[1]! - slow.times[0]!, 400)
    }))

  it.effect("the predicate passed in (the breaker) stops the retries", () =>
    Effect.gen(function*() {
      let open = false
      const times: Array<number> = []
      const once = Effect.flatMap(Clock.currentTimeMillis, (now) => {
        times.push(now)
        if (times.length === 2) open = true
        return Effect.fail(server)
      })
      const schedule = Retry.policy({ schedule: Schedule.spaced("1 second"), maxRetries: 4, allowRetry: () => !open })
      const fiber = yield* Effect.fork(Effect.either(Retry.withRetries(once, schedule, 4)))
      yield* TestClock.adjust("10 seconds")
      assert.deepStrictEqual(yield* Fiber.join(fiber), Either.left(server))
      assert.deepStrictEqual(times, [0, 1_000])
    }))
})

describe("rate budget", () => {
  it("the limit in force is the stricter of configured and learned", () => {
    const budget = new Budget("k", 100)
    assert.strictEqual(budget.limit, 100)
    budget.learned = 60
    assert.strictEqual(budget.limit, 60)
    budget.learned = 500
    assert.strictEqual(budget.limit, 100)
    const learnedOnly = new Budget("k", undefined)
    assert.strictEqual(learnedOnly.limit, undefined)
    learnedOnly.learned = 42
    assert.strictEqual(learnedOnly.limit, 42)
  })

  it("target: the server's remaining count, refilled since, minus what was reserved after the reading", () => {
    const budget = new Budget("k", 60)
    budget.reserved = 10
    // The 5th reservation's reply said 20 remained, at t = 0; 5 more were reserved since.
    assert.isTrue(budget.record({ remaining: 20, perMinute: 60, mark: 5, admittedAt: 0 }))
    assert.strictEqual(budget.target(0), 20 + 5 - 10)
    // 10 s later the server has refilled 10 (60 per minute).
    assert.strictEqual(budget.target(10_000), 30 + 5 - 10)
    // Never above the server's limit.
    assert.strictEqual(budget.target(600_000), 60 + 5 - 10)
  })

  it("target follows the most generous of the last readings, and keeps only the last ones", () => {
    const budget = new Budget("k", 60)
    budget.reserved = 3
    assert.isTrue(budget.record({ remaining: 1, perMinute: 60, mark: 1, admittedAt: 0 }))
    assert.isFalse(budget.record({ remaining: 30, perMinute: 60, mark: 2, admittedAt: 0 }))
    assert.strictEqual(budget.target(0), 30 + 2 - 3)
    for (let i = 0; i < readingsKept; i++) budget.record({ remaining: 5, perMinute: 60, mark: 3, admittedAt: 0 })
    assert.strictEqual(budget.readings.length, readingsKept)
    assert.strictEqual(budget.target(0), 5)
  })

  it("round-trip refill", () => {
    assert.strictEqual(roundTripRefill(1_500, 500, 6_000), 100)
    assert.strictEqual(roundTripRefill(500, 1_500, 6_000), 0)
  })
})
