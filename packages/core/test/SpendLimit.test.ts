import { assert, describe, it } from "@effect/vitest"
import { SpendLimit } from "../src/internal/spendLimit.js"

describe("SpendLimit", () => {
  it("lets calls start while spent + in flight + this estimate fit", () => {
    const limit = new SpendLimit(1)
    assert.isTrue(limit.tryReserve(0.4))
    assert.isTrue(limit.tryReserve(0.4))
    assert.strictEqual(limit.reserved, 0.8)
    // 0.8 in flight + 0.3 does not fit
    assert.isFalse(limit.tryReserve(0.3))
    assert.isTrue(limit.closed)
  })

  it("stays closed once a call did not fit, even after in-flight calls settle lower", () => {
    const limit = new SpendLimit(1)
    assert.isTrue(limit.tryReserve(0.6))
    assert.isFalse(limit.tryReserve(0.6))
    limit.settle(0.6, 0.1)
    assert.closeTo(limit.spent, 0.1, 1e-12)
    assert.strictEqual(limit.reserved, 0)
    assert.isFalse(limit.tryReserve(0.01))
  })

  it("replaces an estimate with the real cost, and a failure with zero", () => {
    const limit = new SpendLimit(10)
    limit.tryReserve(2)
    limit.tryReserve(3)
    limit.settle(2, 1.5)
    limit.settle(3, 0)
    assert.strictEqual(limit.spent, 1.5)
    assert.strictEqual(limit.reserved, 0)
    assert.isTrue(limit.tryReserve(8.5))
    assert.isFalse(limit.tryReserve(0.01))
  })
})
