import { assert, describe, it } from "@effect/vitest"
import { Cache, type ChatRequest, type ChatResponse, Provider, RequestManager } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"

const text = (request: ChatRequest.ChatRequest): string => {
  const content = request.messages[0]?.content
  return typeof content === "string" ? content : ""
}
const answer = (request: ChatRequest.ChatRequest): ChatResponse.ChatResponse => ({
  id: `chatcmpl-${text(request)}`,
  object: "chat.completion",
  model: request.model,
  choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }]
})
/** One second per call. */
const slowProvider = Provider.layerFromFunctions({
  name: "slow",
  chat: (request) => Effect.as(Effect.sleep("1 second"), answer(request))
})
const chat = (i: number) => ({ model: "m", messages: [{ role: "user" as const, content: `q${i}` }] })

describe("BatchStats.etaMillis on a resumed run", () => {
  it.scoped("comes from the live API rate, not from cache hits", () =>
    Effect.gen(function*() {
      const cache = yield* Layer.build(Cache.memory())
      const managerLayer = RequestManager.layer({ concurrency: 1 }).pipe(
        Layer.provide(slowProvider),
        Layer.provide(Layer.succeedContext(cache))
      )
      // a first run answers 5 items (they are cached)...
      const first = yield* Effect.fork(Effect.provide(RequestManager.run([0, 1, 2, 3, 4].map(chat)), managerLayer))
      yield* TestClock.adjust("5 seconds")
      yield* Fiber.join(first)
      // ...the resumed run gets those 5 from the cache at once, then pays 1 s per item for 5 more
      const resumed = yield* Effect.gen(function*() {
        const manager = yield* RequestManager.RequestManager
        const fiber = yield* Effect.fork(manager.run(Array.from({ length: 10 }, (_, i) => chat(i))))
        yield* TestClock.adjust("1 second")
        const stats = yield* manager.snapshot
        yield* TestClock.adjust("4 seconds")
        yield* Fiber.join(fiber)
        return stats
      }).pipe(Effect.provide(managerLayer))
      assert.strictEqual(resumed.done, 6)
      assert.strictEqual(resumed.cached, 5)
      // 4 items left at 1 per second: 4 s (counting the hits' speed said 0.67 s)
      assert.strictEqual(resumed.etaMillis, 4000)
    }))
})
