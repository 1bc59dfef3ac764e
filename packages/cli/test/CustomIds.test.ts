import { assert, describe, it } from "@effect/vitest"
import type * as BatchLine from "../src/BatchLine.js"
import * as CustomIds from "../src/CustomIds.js"

const envelopeLine = (line: number, customId: string): BatchLine.ParsedLine => ({
  _tag: "Request",
  line,
  customId,
  envelope: true,
  input: {}
})

describe("CustomIds", () => {
  it("hashedIds answers 0 for a new id and the first value for a repeat, through many growths", () => {
    const ids = CustomIds.hashedIds()
    const n = 300_000
    let repeats = 0
    for (let i = 1; i <= n; i++) if (ids.firstOrAdd(`request-${i}`, i) !== 0) repeats++
    assert.strictEqual(repeats, 0)
    assert.strictEqual(ids.size(), n)
    // Every id again, with another value: the first value comes back, nothing is stored twice.
    let wrong = 0
    for (let i = 1; i <= n; i++) if (ids.firstOrAdd(`request-${i}`, n + i) !== i) wrong++
    assert.strictEqual(wrong, 0)
    assert.strictEqual(ids.size(), n)
  })

  it("hashedIds tells apart ids that differ in one character, by order, or outside ASCII", () => {
    const ids = CustomIds.hashedIds()
    const similar = ["ab", "ba", "a b", "ab ", "", "é", "e\u0301", "😀", "😁", "a".repeat(1000), "a".repeat(1001)]
    similar.forEach((id, i) => assert.strictEqual(ids.firstOrAdd(id, i + 1), 0, JSON.stringify(id)))
    similar.forEach((id, i) => assert.strictEqual(ids.firstOrAdd(id, 99), i + 1, JSON.stringify(id)))
  })

  it("hashedIds keeps a million ids in ≤ 32 MB (a Map of them took ~365 MB)", () => {
    const ids = CustomIds.hashedIds()
    for (let i = 1; i <= 1_000_000; i++) ids.firstOrAdd(`batch-request-${i}`, i)
    assert.strictEqual(ids.size(), 1_000_000)
    assert.isAtMost(ids.bytes(), 32 * 1024 * 1024)
  })

  it("tracker warns once, at the first repeat, naming both lines, and counts every repeat", () => {
    const warnings: Array<string> = []
    const tracker = CustomIds.tracker((text) => warnings.push(text))
    tracker.see(envelopeLine(1, "a"))
    tracker.see(envelopeLine(2, "dup"))
    tracker.see(envelopeLine(3, "dup"))
    tracker.see(envelopeLine(4, "a"))
    tracker.see(envelopeLine(5, "dup"))
    // A bare body's id is its line number: never a repeat, even if it looks like an envelope's id.
    tracker.see({ _tag: "Request", line: 6, customId: "a", envelope: false, input: {} })
    assert.strictEqual(tracker.count(), 3)
    assert.strictEqual(warnings.length, 1)
    assert.include(warnings[0], `custom_id "dup" is used by line 2 and again by line 3`)
    assert.strictEqual(CustomIds.summary(3), "3 lines reused an earlier custom_id (OpenAI's Batch API needs unique custom_ids)")
  })
})
