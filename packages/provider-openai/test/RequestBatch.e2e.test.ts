import { assert, describe, it } from "@effect/vitest"
import { Cache, RequestBatch, RequestManager, ResponseWrapper } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

// The seed's batch API end to end: RequestBatch → RequestManager → OpenAiProvider → real HTTP on
// 127.0.0.1 → the testing package's OpenAI-compatible server. Real sockets, so `it.live`.

const managerLayer = (server: TestServer.TestServer) =>
  RequestManager.layer({ concurrency: 16, maxRetries: 0 }).pipe(
    Layer.provide(OpenAiProvider.layer({ baseUrl: server.url })),
    Layer.provide(Cache.memory())
  )

const user = (content: string) => [{ role: "user", content }] as const

describe("RequestBatch against the test server", () => {
  it.live("runs chat and embeddings built with OpenAI's names and wraps them in batch order", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 1, maxMs: 20 }, faults: { seed: 3 } })
      yield* Effect.gen(function*() {
        const batch = yield* RequestBatch.make()
        const ids = [
          batch.chat.completions.create({ model: "gpt-4o-mini", messages: user("What is 1 + 1?"), temperature: 0 }),
          batch.embeddings.create({ model: "text-embedding-3-small", input: ["alpha", "beta"], dimensions: 4 }),
          batch.embeddings.create({
            model: "text-embedding-3-small",
            input: ["alpha", "beta"],
            dimensions: 4,
            encoding_format: "base64"
          }),
          batch.chat.completions.create({ model: "gpt-4o-mini", messages: user("What is 2 + 2?"), max_tokens: 64 })
        ]
        const { responses, stats } = yield* RequestBatch.process(batch)
        assert.deepStrictEqual(responses.map((r) => r.requestId), ids)
        assert.deepStrictEqual(responses.map((r) => r._tag), ["Success", "Success", "Success", "Success"])
        assert.deepStrictEqual(responses.map((r) => r.isEmbedding), [false, true, true, false])

        const [chat, floats, base64, second] = responses
        assert.match(chat!.text ?? "", /^Echo: What is 1 \+ 1\?/)
        assert.match(second!.text ?? "", /^Echo: What is 2 \+ 2\?/)
        assert.isAbove(chat!.usage?.prompt_tokens ?? 0, 0)
        assert.strictEqual(chat!.tokens.totalTokens, chat!.usage?.total_tokens)
        assert.deepStrictEqual(chat!.embeddings, [])

        assert.strictEqual(floats!.embeddings.length, 2)
        assert.deepStrictEqual(floats!.embeddings.map((v) => v.length), [4, 4])
        assert.isAbove(floats!.usage?.prompt_tokens ?? 0, 0)
        assert.strictEqual(floats!.text, undefined)
        // The same vectors, decoded from base64 float32.
        assert.deepStrictEqual(base64!.embeddings, floats!.embeddings)

        assert.strictEqual(stats.succeeded, 4)
        assert.strictEqual(stats.apiCalls, 4)
        const seen = yield* server.stats
        assert.strictEqual(seen.byPath["/v1/chat/completions"], 2)
        assert.strictEqual(seen.byPath["/v1/embeddings"], 2)
      }).pipe(Effect.provide(managerLayer(server)))
    }).pipe(Effect.scoped))

  it.live("sends identical requests once, answers the rerun from the cache, and keeps merged order", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 5, maxMs: 40 }, faults: { seed: 7 } })
      yield* Effect.gen(function*() {
        const a = yield* RequestBatch.make()
        const b = yield* RequestBatch.make()
        for (let i = 0; i < 6; i++) {
          a.chat.completions.create({ model: "m", messages: user(`a${i % 3}`) })
          b.chat.completions.create({ model: "m", messages: user(`b${i}`) })
        }
        const merged = RequestBatch.merge([a, b])
        const { responses, stats } = yield* RequestBatch.process(merged)
        assert.deepStrictEqual(responses.map((r) => r.requestId), merged.ids)
        assert.deepStrictEqual(
          responses.map((r) => /^Echo: (\w+)/.exec(r.text ?? "")?.[1]),
          ["a0", "a1", "a2", "a0", "a1", "a2", "b0", "b1", "b2", "b3", "b4", "b5"]
        )
        // 3 distinct a's + 6 b's reach the server; the 3 repeats share an answer (in flight or cached).
        const seen = yield* server.stats
        assert.strictEqual(seen.requests, 9)
        assert.strictEqual(stats.apiCalls, 9)
        assert.strictEqual(stats.deduplicated + stats.cached, 3)
        assert.deepStrictEqual(
          responses.slice(3, 6).map((r) => r.deduplicated || r.fromCache),
          [true, true, true]
        )
        assert.strictEqual(responses[3]!.text, responses[0]!.text)

        const again = yield* RequestBatch.process(merged)
        assert.deepStrictEqual(again.responses.map((r) => r.fromCache), Array.from({ length: 12 }, () => true))
        assert.strictEqual((yield* server.stats).requests, 9)
      }).pipe(Effect.provide(managerLayer(server)))
    }).pipe(Effect.scoped))

  it.live("gives a plain request the builder's id through the real provider's name", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      yield* Effect.gen(function*() {
        const manager = yield* RequestManager.RequestManager
        const batch = yield* RequestBatch.make()
        assert.strictEqual(batch.provider, manager.providerName)
        const id = batch.chat.completions.create({ model: "m", messages: user("same"), seed: 1 })
        const plain = yield* RequestBatch.processBatch([{ seed: 1, model: "m", messages: [{ content: "same", role: "user" }] }])
        assert.strictEqual(plain.responses[0]!.requestId, id)
        const built = yield* RequestBatch.process(batch)
        assert.strictEqual(built.responses[0]!.requestId, id)
        assert.isTrue(built.responses[0]!.fromCache)
      }).pipe(Effect.provide(managerLayer(server)))
    }).pipe(Effect.scoped))

  it.live("wraps API errors and invalid parameters per item without losing the batch", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ models: ["known", "embedder"] })
      yield* Effect.gen(function*() {
        const batch = yield* RequestBatch.make()
        batch.chat.completions.create({ model: "known", messages: user("ok") })
        batch.chat.completions.create({ model: "unknown", messages: user("ok") })
        const invalid = batch.chat.completions.create({ model: "known", messages: user("x"), n: 0 })
        batch.embeddings.create({ model: "unknown", input: "x" })
        batch.embeddings.create({ model: "embedder", input: "x" })
        const { responses, stats } = yield* RequestBatch.process(batch)
        assert.deepStrictEqual(responses.map((r) => r.error?._tag), [
          undefined,
          "ApiError",
          "InvalidRequestError",
          "ApiError",
          undefined
        ])
        const notFound = responses[1]!
        assert.strictEqual(notFound.error?._tag === "ApiError" ? notFound.error.status : undefined, 404)
        assert.strictEqual(notFound.response, undefined)
        assert.strictEqual(responses[2]!.requestId, invalid)
        assert.strictEqual(responses[3]!.isEmbedding, true)
        assert.deepStrictEqual(responses[3]!.embeddings, [])
        assert.strictEqual(responses[4]!.embeddings.length, 1)
        assert.isTrue(ResponseWrapper.isSuccess(responses[0]!))
        // The invalid item never reached the server.
        assert.strictEqual((yield* server.stats).requests, 4)
        assert.deepStrictEqual(stats.failuresByKind, { ApiError: 2, InvalidRequestError: 1 })
        assert.strictEqual(stats.total, 5)
      }).pipe(Effect.provide(managerLayer(server)))
    }).pipe(Effect.scoped))
})
