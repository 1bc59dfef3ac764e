/**
 * Issue 13 under TestClock: paced budgets and the burst option, isolated 429s vs an empty bucket,
 * the adaptive concurrency law, and a stalled head item in ordered output.
 */
import { assert, describe, it } from "@effect/vitest"
import { LLMError } from "@fastllm/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { Aimd } from "../src/internal/adaptiveConcurrency.js"
import { mapOrdered, parked } from "../src/internal/orderedWindow.js"
import { bucketEmpty, burstCapacity } from "../src/internal/rateBudget.js"
import { make as makeRateController, type RateController, type Ticket } from "../src/internal/rateController.js"
import { Slots } from "../src/internal/slots.js"

/** Starts `n` acquires at once and returns when each was let through (20 virtual seconds at most). */
const acquireTimes = (controller: RateController, n: number) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    const fiber = yield* Effect.fork(Effect.forEach(
      Array.from({ length: n }),
      () => Effect.zipRight(controller.acquire(0), Effect.flatMap(Clock.currentTimeMillis, (t) => Effect.sync(() => times.push(t)))),
      { concurrency: "unbounded" }
    ))
    yield* TestClock.adjust("20 seconds")
    yield* Fiber.join(fiber)
    return times
  })

const unadmitted: Ticket = { estimatedTokens: 0, requests: 0, tokens: 0, admittedAt: 0 }

describe("paced budgets", () => {
  it.scoped("60 RPM lets one request a second through from the start, not a minute's worth", () =>
    Effect.gen(function*() {
      const controller = yield* makeRateController({ requestsPerMinute: 60, tokensPerMinute: undefined, learnFromHeaders: true })
      assert.deepStrictEqual(yield* acquireTimes(controller, 5), [0, 1_000, 2_000, 3_000, 4_000])
    }))

  it.scoped("3,000 RPM: 50 at once (one second's worth), then 50 a second", () =>
    Effect.gen(function*() {
      const controller = yield* makeRateController({ requestsPerMinute: 3_000, tokensPerMinute: undefined, learnFromHeaders: true })
      const times = yield* acquireTimes(controller, 150)
      assert.strictEqual(times.filter((t) => t === 0).length, 50)
      assert.strictEqual(times.filter((t) => t <= 1_000).length, 100)
      assert.strictEqual(Math.max(...times), 2_000)
    }))

  it.scoped("the burst option lets that much go at once", () =>
    Effect.gen(function*() {
      const controller = yield* makeRateController({
        requestsPerMinute: 60,
        tokensPerMinute: undefined,
        learnFromHeaders: true,
        burst: "5 seconds"
      })
      assert.deepStrictEqual(yield* acquireTimes(controller, 7), [0, 0, 0, 0, 0, 1_000, 2_000])
    }))

  it("bucket sizes", () => {
    assert.strictEqual(burstCapacity(3_000, 1_000, 1), 50)
    assert.strictEqual(burstCapacity(30, 1_000, 1), 1) // never below one request
    assert.strictEqual(burstCapacity(300_000, 2_000, 0), 10_000)
  })
})

describe("isolated 429s vs an empty bucket", () => {
  it("what a 429 says", () => {
    const ticket = { estimatedTokens: 100 }
    assert.isTrue(bucketEmpty({ kind: "requests", remaining: 0 }, ticket))
    assert.isFalse(bucketEmpty({ kind: "requests", remaining: 12 }, ticket))
    assert.isFalse(bucketEmpty({ kind: "requests" }, ticket)) // says nothing: only its own request backs off
    assert.isTrue(bucketEmpty({ kind: "tokens", remaining: 40 }, ticket)) // less than this request needs
    assert.isFalse(bucketEmpty({ kind: "tokens", remaining: 400 }, ticket))
  })

  it.scoped("an isolated 429 leaves the gate open; an empty bucket closes it for everyone", () =>
    Effect.gen(function*() {
      const controller = yield* makeRateController({ requestsPerMinute: undefined, tokensPerMinute: undefined, learnFromHeaders: true })
      yield* controller.onError(unadmitted, new LLMError.RateLimitError({ kind: "requests", remaining: 30, retryAfter: Duration.seconds(5) }))
      yield* controller.onError(unadmitted, new LLMError.RateLimitError({ kind: "requests", retryAfter: Duration.seconds(5) }))
      assert.deepStrictEqual(yield* acquireTimes(controller, 2), [0, 0])
      assert.strictEqual(controller.snapshot().isolated, 2)
      yield* controller.onError(unadmitted, new LLMError.RateLimitError({ kind: "requests", remaining: 0, retryAfter: Duration.seconds(5) }))
      const now = yield* Clock.currentTimeMillis
      const times = yield* acquireTimes(controller, 2)
      assert.deepStrictEqual(times.map((t) => t - now), [5_000, 5_000])
      assert.strictEqual(controller.snapshot().rateLimited, 3)
    }))
})

/**
 * Feeds `law` with `count` outcomes from a simulated server whose throughput at a limit L is
 * `rate(L)` completions per millisecond; `signal(i)` says how outcome i went. Returns the limits
 * the law had after each outcome.
 */
const feed = (
  law: Aimd,
  count: number,
  rate: (limit: number) => number,
  signal: (i: number) => "ok" | "congested" = () => "ok",
  clock = { now: 0 }
) => {
  const limits: Array<number> = []
  for (let i = 0; i < count; i++) {
    clock.now += 1 / rate(Math.round(law.limit))
    law.record(signal(i), clock.now)
    limits.push(law.limit)
  }
  return limits
}
/** A server far from its capacity: 20 ms per call whatever the load, so throughput grows with L. */
const latencyBound = (limit: number) => limit / 20
/** A deterministic stream of uniform numbers in [0, 1) (a 32-bit LCG). */
const uniform = (seed: number) => () => {
  seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0
  return seed / 2 ** 32
}

describe("adaptive concurrency", () => {
  it("slow start doubles from 16 while doubling pays, never above the configured concurrency", () => {
    const law = new Aimd({ max: 64 })
    assert.strictEqual(law.limit, 16)
    const limits = feed(law, 2_000, latencyBound)
    assert.deepStrictEqual([...new Set(limits)], [16, 32, 64])
    assert.strictEqual(law.limit, 64)
    assert.strictEqual(law.cuts, 0)
  })

  it("stops doubling where more in flight buys nothing (a saturated client or server) and goes back", () => {
    // 1 call per ms at most: 16 → 0.8/ms, 32 → 1/ms (+25%: doubled), 64 → 1/ms (nothing): back to 32
    const law = new Aimd({ max: 64 })
    const limits = feed(law, 3_000, (limit) => Math.min(limit / 20, 1))
    assert.include(limits, 64)
    assert.strictEqual(law.limit, 32)
  })

  it("a server that slows down under load: settles near the best fixed concurrency (16 here)", () => {
    // latency 20 ms + 0.08 ms × (L − 1)²: throughput peaks at L ≈ 16 (0.42/ms), 0.33 at 32, 0.19 at 64
    const law = new Aimd({ max: 64 })
    const limits = feed(law, 20_000, (limit) => limit / (20 + 0.08 * (limit - 1) ** 2))
    assert.isAtMost(Math.max(...limits.slice(1_000)), 18)
    assert.isAtLeast(law.limit, 14)
    assert.isAtMost(law.limit, 18)
  })

  it("a burst of 429s or timeouts cuts by 30%; then probing grows it back while that pays", () => {
    const law = new Aimd({ max: 64, initial: 64 })
    const clock = { now: 0 }
    feed(law, 200, latencyBound, () => "ok", clock) // settles at 64 (the ceiling)
    let n = 0
    // a quarter of the calls refused: the first epoch that sees it cuts
    while (law.cuts === 0 && n < 1_000) feed(law, 1, latencyBound, () => (n++ % 4 === 0 ? "congested" : "ok"), clock)
    assert.strictEqual(law.cuts, 1)
    assert.closeTo(law.limit, 44.8, 1e-9)
    const limits = feed(law, 20_000, latencyBound, () => "ok", clock)
    assert.strictEqual(law.limit, 64)
    assert.isAtMost(Math.max(...limits), 64)
    assert.strictEqual(law.cuts, 1)
  })

  it("a steady trickle of random 429s (10%) cuts nothing; a rising share does", () => {
    const law = new Aimd({ max: 64, initial: 64 })
    const random = uniform(7)
    feed(law, 20_000, latencyBound, () => (random() < 0.1 ? "congested" : "ok"))
    assert.strictEqual(law.cuts, 0)
    assert.strictEqual(law.limit, 64)
    feed(law, 200, latencyBound, () => (random() < 0.45 ? "congested" : "ok"))
    assert.isAtLeast(law.cuts, 1)
    assert.isBelow(law.limit, 64)
  })

  it("Slots follow a resize: fewer calls start while more are in flight", () =>
    Effect.runPromise(Effect.gen(function*() {
      const slots = new Slots(4)
      let inFlight = 0
      let peak = 0
      const call = slots.withSlot(Effect.gen(function*() {
        peak = Math.max(peak, ++inFlight)
        yield* Effect.sleep(Duration.millis(1))
        inFlight--
      }))
      slots.resize(2)
      yield* Effect.forEach(Array.from({ length: 20 }), () => call, { concurrency: "unbounded", discard: true })
      assert.strictEqual(peak, 2)
      slots.resize(5)
      peak = 0
      yield* Effect.forEach(Array.from({ length: 20 }), () => call, { concurrency: "unbounded", discard: true })
      assert.strictEqual(peak, 5)
    })))
})

describe("ordered output with a stalled head item", () => {
  it.effect("items behind a head item in backoff keep running; output order stays", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      const fiber = yield* Effect.fork(Stream.runCollect(mapOrdered(
        Stream.range(0, 99),
        { workers: 8, maxBufferedBytes: 1_000_000, sizeOf: () => 100 },
        (n, index) => {
          started.push(index)
          return Effect.as(Effect.sleep(Duration.millis(n === 0 ? 10_000 : 100)), n)
        }
      )))
      yield* TestClock.adjust("5 seconds")
      // the head sleeps until 10 s; the other 99 ran meanwhile on the 7 other workers
      assert.strictEqual(started.length, 100)
      yield* TestClock.adjust("5 seconds")
      const out = yield* Fiber.join(fiber)
      assert.deepStrictEqual(Array.from(out), Array.from({ length: 100 }, (_, i) => i))
    }))

  it.effect("items in a long backoff step aside (after 1 s): every worker's item in backoff does not stop the rest", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      let peakActive = 0
      let active = 0
      const fiber = yield* Effect.fork(Stream.runCollect(mapOrdered(
        Stream.range(0, 199),
        { workers: 8, maxBufferedBytes: 1_000_000, sizeOf: () => 100, parkAfter: "1 second" },
        (n, index) =>
          Effect.gen(function*() {
            started.push(index)
            peakActive = Math.max(peakActive, ++active)
            yield* Effect.sleep(Duration.millis(100))
            active--
            // every tenth item fails once and waits 10 s before its retry, parked
            if (n % 10 === 0) yield* parked(Effect.sleep(Duration.seconds(10)))
            return n
          })
      )))
      yield* TestClock.adjust("8 seconds")
      // the 20 items in backoff (the first 8 all at once) did not stop the other 180
      assert.strictEqual(started.length, 200)
      assert.isAtMost(peakActive, 8) // never more than `workers` items working at once
      yield* TestClock.adjust("20 seconds")
      const out = yield* Fiber.join(fiber)
      assert.deepStrictEqual(Array.from(out), Array.from({ length: 200 }, (_, i) => i))
    }))

  it.effect("items do not step aside when told not to (a burst of refusals, a server that is down)", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      const fiber = yield* Effect.fork(Stream.runCollect(mapOrdered(
        Stream.range(0, 199),
        { workers: 8, maxBufferedBytes: 1_000_000, sizeOf: () => 100 },
        (n, index) =>
          Effect.gen(function*() {
            started.push(index)
            yield* Effect.sleep(Duration.millis(100))
            if (n % 10 === 0) yield* parked(Effect.sleep(Duration.seconds(10)), () => false)
            return n
          })
      )))
      yield* TestClock.adjust("8 seconds")
      assert.isBelow(started.length, 100) // all 8 workers end up waiting 10 s each
      yield* TestClock.adjust("300 seconds")
      assert.strictEqual((yield* Fiber.join(fiber)).length, 200)
    }))

  it.effect("the buffer of finished items is bounded by bytes", () =>
    Effect.gen(function*() {
      const started: Array<number> = []
      const fiber = yield* Effect.fork(Stream.runCollect(mapOrdered(
        Stream.range(0, 99),
        { workers: 8, maxBufferedBytes: 2_000, sizeOf: () => 100 },
        (n, index) => {
          started.push(index)
          return Effect.as(Effect.sleep(Duration.millis(n === 0 ? 10_000 : 100)), n)
        }
      )))
      yield* TestClock.adjust("5 seconds")
      // 20 finished results (2,000 bytes) wait behind the head, plus the workers' items in progress
      assert.isAtMost(started.length, 1 + 20 + 8)
      assert.isAtLeast(started.length, 20)
      yield* TestClock.adjust("10 seconds")
      const out = yield* Fiber.join(fiber)
      assert.strictEqual(out.length, 100)
    }))
})
