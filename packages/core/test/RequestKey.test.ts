import { assert, describe, it } from "@effect/vitest"
import { ApiRequest, RequestKey } from "@fastllm/core"

describe("RequestKey", () => {
  it("is stable under property order", () => {
    const a = RequestKey.make("p", ApiRequest.chat({ model: "m", messages: [{ role: "user", content: "x" }], temperature: 0 }))
    const b = RequestKey.make("p", ApiRequest.chat({ temperature: 0, messages: [{ content: "x", role: "user" }], model: "m" }))
    assert.strictEqual(a, b)
  })
})
