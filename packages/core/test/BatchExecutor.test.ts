import { assert, describe, it } from "@effect/vitest"
import { BatchExecutor } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"

/** Polls on the TestClock with `changes[i]` as the i-th poll's answer; returns the gaps between polls. */
const gaps = (changes: ReadonlyArray<boolean>, initial: string, cap: string) =>
  Effect.gen(function*() {
    const times: Array<number> = []
    const poll = Effect.map(TestClock.currentTimeMillis, (now) => {
      times.push(now)
      return changes[times.length - 1] ?? false
    })
    const fiber = yield* Effect.fork(Effect.repeat(poll, {
      schedule: BatchExecutor.pollSchedule(initial as `${number} seconds`, cap as `${number} seconds`),
      until: () => times.length >= changes.length
    }))
    for (let i = 0; i < 400 && times.length < changes.length; i++) yield* TestClock.adjust("250 millis")
    yield* Fiber.join(fiber)
    return times.slice(1).map((time, i) => time - times[i]!)
  })

// The poll schedule on the TestClock: 1.5x longer after each poll that saw no change, capped,
// back to the first interval as soon as the batch moved.
describe("BatchExecutor.pollSchedule", () => {
  it.effect("backs off 1.5x from the interval up to the cap while nothing changes", () =>
    Effect.gen(function*() {
      const seen = yield* gaps([false, false, false, false, false, false], "1 seconds", "4 seconds")
      assert.deepStrictEqual(seen, [1000, 1500, 2250, 3375, 4000])
    }))

  it.effect("starts again from the interval after a poll that saw a change", () =>
    Effect.gen(function*() {
      const seen = yield* gaps([false, false, false, true, false, false], "1 seconds", "60 seconds")
      assert.strictEqual(seen[3], 1000)
      assert.isAbove(seen[2]!, seen[3]!)
      assert.isBelow(seen[3]!, seen[4]!)
    }))

  it("terminal statuses", () => {
    assert.deepStrictEqual(
      BatchExecutor.Status.literals.filter(BatchExecutor.isTerminal),
      ["failed", "completed", "expired", "cancelled"]
    )
  })
})
