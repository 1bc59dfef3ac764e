import { assert, describe, it } from "@effect/vitest"
import {
  ApiRequest,
  Cache,
  type ChatRequest,
  type Embedding,
  LLMError,
  Provider,
  RequestBatch,
  RequestKey,
  RequestManager,
  ResponseWrapper
} from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"

/**
 * A fake provider: chat answers `echo:<last user text>` after sleeping `sleep:<ms>:...` milliseconds
 * (TestClock time), fails with a 400 for `fail`; embeddings answer one 2-d vector per input string
 * (`[length, index]`), base64-encoded when asked. Every call is recorded.
 */
const makeFake = () => {
  const calls: Array<string> = []
  const finished: Array<string> = []
  const textOf = (request: ChatRequest.ChatRequest): string => {
    const content = request.messages[request.messages.length - 1]?.content
    return typeof content === "string" ? content : ""
  }
  const provider = Provider.layerFromFunctions({
    name: "fake",
    chat: (request) =>
      Effect.gen(function*() {
        const text = textOf(request)
        calls.push(`chat:${text}`)
        const sleep = /^sleep:(\d+):/.exec(text)
        if (sleep !== null) yield* Effect.sleep(Number(sleep[1]))
        finished.push(text)
        if (text === "fail") {
          return yield* Effect.fail(
            new LLMError.ApiError({ status: 400, type: "invalid_request_error", detail: "no", retryable: false })
          )
        }
        return {
          id: `chatcmpl-${calls.length}`,
          object: "chat.completion",
          model: request.model,
          choices: [{ index: 0, message: { role: "assistant", content: `echo:${text}` }, finish_reason: "stop" }],
          usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }
        }
      }),
    embed: (request: Embedding.EmbeddingRequest) =>
      Effect.sync(() => {
        const inputs = typeof request.input === "string" ? [request.input] : request.input.map(String)
        calls.push(`embed:${inputs.join(",")}`)
        const data = inputs.map((input, index) => {
          const vector = [input.length, index]
          if (request.encoding_format !== "base64") return { object: "embedding", index, embedding: vector }
          const bytes = Buffer.alloc(vector.length * 4)
          vector.forEach((x, i) => bytes.writeFloatLE(x, i * 4))
          return { object: "embedding", index, embedding: bytes.toString("base64") }
        })
        return {
          object: "list",
          model: request.model,
          data: data.reverse(), // out of order on purpose: `embeddings` must sort by index
          usage: { prompt_tokens: inputs.length, total_tokens: inputs.length }
        }
      })
  })
  const layer = RequestManager.layer({ concurrency: 8 }).pipe(
    Layer.provide(provider),
    Layer.provide(Cache.memory())
  )
  return { calls, finished, layer }
}

const user = (content: string) => [{ role: "user", content }] as const

describe("RequestBatch builder", () => {
  it("returns ids `${key}#${position}`, stable across batches and in batch order", () => {
    const build = () => {
      const batch = RequestBatch.forProvider("fake")
      const ids = [
        batch.chat.completions.create({ model: "m", messages: user("a"), temperature: 0 }),
        batch.embeddings.create({ model: "e", input: ["x", "y"], dimensions: 2 }),
        batch.chat.completions.create({ model: "m", messages: user("b") })
      ]
      return { batch, ids }
    }
    const first = build()
    const second = build()
    assert.deepStrictEqual(first.ids, second.ids)
    assert.deepStrictEqual(first.batch.ids, first.ids)
    assert.strictEqual(first.batch.length, 3)
    const expectedKey = RequestKey.make(
      "fake",
      ApiRequest.chat({ model: "m", messages: user("a"), temperature: 0 })
    )
    assert.strictEqual(first.ids[0], `${expectedKey}#0`)
    assert.match(first.ids[1]!, /^v1:[0-9a-f]{64}#1$/)
    assert.match(first.ids[2]!, /^v1:[0-9a-f]{64}#2$/)
    assert.deepStrictEqual([...first.batch].map((item) => item.position), [0, 1, 2])
    // The key names the provider: another provider, other ids.
    const other = RequestBatch.forProvider("other")
    assert.notStrictEqual(other.chat.completions.create({ model: "m", messages: user("a"), temperature: 0 }), first.ids[0])
  })

  it("gives the same key to a request built with the builder, added as a plain object, or tagged", () => {
    const batch = RequestBatch.forProvider("fake")
    const built = batch.chat.completions.create({ model: "m", messages: user("hi"), seed: 7 })
    const plain = batch.add({ seed: 7, messages: [{ content: "hi", role: "user" }], model: "m" })
    const tagged = batch.add(ApiRequest.chat({ model: "m", messages: user("hi"), seed: 7 }))
    const embedBuilt = batch.embeddings.create({ model: "e", input: "x" })
    const embedPlain = batch.add({ model: "e", input: "x" })
    assert.strictEqual(built.replace(/#0$/, "#1"), plain)
    assert.strictEqual(built.replace(/#0$/, "#2"), tagged)
    assert.strictEqual(embedBuilt.replace(/#3$/, "#4"), embedPlain)
    assert.notStrictEqual(built.split("#")[0], embedBuilt.split("#")[0])
  })

  it("records invalid parameters instead of throwing, and keeps the rest of the batch", () => {
    const batch = RequestBatch.forProvider("fake")
    batch.chat.completions.create({ model: "m", messages: user("ok") })
    const bad = batch.chat.completions.create({ model: "", messages: user("x") })
    const badEmbedding = batch.embeddings.create({ model: "e", input: "x", dimensions: -3 })
    batch.chat.completions.create({ model: "m", messages: user("ok 2") })
    assert.strictEqual(bad, "invalid#1")
    assert.strictEqual(badEmbedding, "invalid#2")
    assert.strictEqual(batch.length, 4)
    const errors = RequestBatch.errors(batch)
    assert.deepStrictEqual(errors.map((item) => [item.position, item.kind, item.error.path]), [
      [1, "chat", "model"],
      [2, "embedding", "dimensions"]
    ])
  })

  it("merges batches into a new one, renumbered in merged order, leaving the parts alone", () => {
    const a = RequestBatch.forProvider("fake")
    const a0 = a.chat.completions.create({ model: "m", messages: user("a0") })
    const a1 = a.chat.completions.create({ model: "m", messages: user("a1") })
    const b = RequestBatch.forProvider("fake")
    const b0 = b.chat.completions.create({ model: "m", messages: user("b0") })
    b.chat.completions.create({ model: "", messages: user("invalid") })
    const merged = RequestBatch.merge([a, b])
    const keyOf = (id: string) => id.split("#")[0]
    assert.deepStrictEqual(merged.ids.map(keyOf), [keyOf(a0), keyOf(a1), keyOf(b0), "invalid"])
    assert.deepStrictEqual(merged.items.map((item) => item.position), [0, 1, 2, 3])
    assert.deepStrictEqual(merged.ids.map((id) => id.split("#")[1]), ["0", "1", "2", "3"])
    assert.strictEqual(a.length, 2)
    assert.strictEqual(b.ids[0], b0)
    // The merged batch keeps building after the merged items.
    assert.match(merged.chat.completions.create({ model: "m", messages: user("c") }), /#4$/)
    assert.strictEqual(b.length, 2)
  })

  it("re-keys items merged from a batch built for another provider", () => {
    const a = RequestBatch.forProvider("fake")
    const b = RequestBatch.forProvider("other")
    const bId = b.chat.completions.create({ model: "m", messages: user("x") })
    const merged = RequestBatch.merge([a, b])
    const expected = RequestKey.make("fake", ApiRequest.chat({ model: "m", messages: user("x") }))
    assert.strictEqual(merged.ids[0], `${expected}#0`)
    assert.notStrictEqual(merged.ids[0], bId)
  })
})

describe("RequestBatch.process", () => {
  it.effect("runs chat and embeddings and wraps each result in batch order", () => {
    const fake = makeFake()
    return Effect.gen(function*() {
      const batch = yield* RequestBatch.make()
      const chatId = batch.chat.completions.create({ model: "m", messages: user("hello") })
      const embedId = batch.embeddings.create({ model: "e", input: ["abc", "de"] })
      const base64Id = batch.embeddings.create({ model: "e", input: ["abcd"], encoding_format: "base64" })
      const { responses, stats } = yield* RequestBatch.process(batch)
      assert.deepStrictEqual(responses.map((r) => r.requestId), [chatId, embedId, base64Id])

      const chat = responses[0]!
      assert.strictEqual(chat._tag, "Success")
      assert.strictEqual(chat.isEmbedding, false)
      assert.strictEqual(chat.kind, "chat")
      assert.strictEqual(chat.text, "echo:hello")
      assert.deepStrictEqual(chat.embeddings, [])
      assert.strictEqual(chat.usage?.completion_tokens, 2)
      assert.strictEqual(chat.tokens.totalTokens, 5)
      assert.strictEqual(chat.fromCache, false)
      assert.strictEqual(chat.attempts, 1)
      assert.strictEqual(chat.error, undefined)
      assert.strictEqual(chat.position, 0)
      assert.strictEqual(chat.key, chatId.split("#")[0])

      const embedding = responses[1]!
      assert.strictEqual(embedding.isEmbedding, true)
      assert.strictEqual(embedding.kind, "embedding")
      assert.deepStrictEqual(embedding.embeddings, [[3, 0], [2, 1]])
      assert.strictEqual(embedding.usage?.prompt_tokens, 2)
      assert.strictEqual(embedding.tokens.promptTokens, 2)
      assert.strictEqual(embedding.text, undefined)
      assert.strictEqual(embedding.error, undefined)
      if (ResponseWrapper.isSuccess(embedding) && embedding.isEmbedding) {
        assert.strictEqual(embedding.response.data.length, 2)
      } else assert.fail("not an embedding")

      assert.deepStrictEqual(responses[2]!.embeddings, [[4, 0]])
      assert.strictEqual(stats.succeeded, 3)
      assert.strictEqual(stats.apiCalls, 3)
      assert.strictEqual(stats.tokens.promptTokens, 3 + 2 + 1)
      assert.deepStrictEqual(ResponseWrapper.toEither(chat), Either.right(chat.response!))
    }).pipe(Effect.provide(fake.layer))
  })

  it.effect("returns results in batch order, not in finishing order, for merged batches", () => {
    const fake = makeFake()
    return Effect.gen(function*() {
      const a = yield* RequestBatch.make()
      a.chat.completions.create({ model: "m", messages: user("sleep:300:a0") })
      a.chat.completions.create({ model: "m", messages: user("sleep:100:a1") })
      const b = yield* RequestBatch.make()
      b.chat.completions.create({ model: "m", messages: user("sleep:200:b0") })
      b.chat.completions.create({ model: "m", messages: user("b1") })
      const merged = RequestBatch.merge([a, b])
      const fiber = yield* Effect.fork(RequestBatch.process(merged))
      yield* TestClock.adjust("1 second")
      const { responses } = yield* Fiber.join(fiber)
      assert.deepStrictEqual(responses.map((r) => r.text), [
        "echo:sleep:300:a0",
        "echo:sleep:100:a1",
        "echo:sleep:200:b0",
        "echo:b1"
      ])
      assert.deepStrictEqual(responses.map((r) => r.requestId), merged.ids)
      assert.deepStrictEqual(responses.map((r) => r.position), [0, 1, 2, 3])
      // They did finish in another order.
      assert.deepStrictEqual(fake.finished, ["b1", "sleep:100:a1", "sleep:200:b0", "sleep:300:a0"])
    }).pipe(Effect.provide(fake.layer))
  })

  it.effect("sends identical requests in one batch once, and answers a second run from the cache", () => {
    const fake = makeFake()
    return Effect.gen(function*() {
      const batch = yield* RequestBatch.make()
      const ids = [
        batch.chat.completions.create({ model: "m", messages: user("sleep:50:same") }),
        batch.chat.completions.create({ model: "m", messages: user("sleep:50:same") }),
        batch.chat.completions.create({ model: "m", messages: user("sleep:50:other") }),
        batch.chat.completions.create({ messages: user("sleep:50:same"), model: "m" })
      ]
      assert.strictEqual(new Set(ids.map((id) => id.split("#")[0])).size, 2)
      const fiber = yield* Effect.fork(RequestBatch.process(batch))
      yield* TestClock.adjust("1 second")
      const { responses, stats } = yield* Fiber.join(fiber)
      assert.deepStrictEqual(fake.calls, ["chat:sleep:50:same", "chat:sleep:50:other"])
      assert.strictEqual(stats.apiCalls, 2)
      assert.strictEqual(stats.deduplicated, 2)
      assert.deepStrictEqual(responses.map((r) => r.deduplicated), [false, true, false, true])
      assert.deepStrictEqual(responses.map((r) => r.attempts), [1, 0, 1, 0])
      assert.deepStrictEqual(responses.map((r) => r.text), [
        "echo:sleep:50:same",
        "echo:sleep:50:same",
        "echo:sleep:50:other",
        "echo:sleep:50:same"
      ])

      const again = yield* RequestBatch.process(batch)
      assert.strictEqual(fake.calls.length, 2)
      assert.deepStrictEqual(again.responses.map((r) => r.fromCache), [true, true, true, true])
      assert.deepStrictEqual(again.responses.map((r) => r.requestId), ids)
      assert.strictEqual(again.stats.cached, 4)
      assert.strictEqual(again.stats.apiCalls, 0)
    }).pipe(Effect.provide(fake.layer))
  })

  it.effect("gives a plain request the same id as the builder, and the manager the same key", () => {
    const fake = makeFake()
    return Effect.gen(function*() {
      const batch = yield* RequestBatch.make()
      const chatId = batch.chat.completions.create({ model: "m", messages: user("x"), temperature: 0.5 })
      const embedId = batch.embeddings.create({ model: "e", input: "x" })
      const plain = yield* RequestBatch.processBatch([
        { temperature: 0.5, messages: [{ content: "x", role: "user" }], model: "m" },
        { input: "x", model: "e" }
      ])
      assert.deepStrictEqual(plain.responses.map((r) => r.requestId), [chatId, embedId])
      assert.deepStrictEqual(plain.responses.map((r) => r.isEmbedding), [false, true])
      const run = yield* RequestManager.run([{ model: "m", messages: user("x"), temperature: 0.5 }])
      assert.strictEqual(run.results[0]!.key, chatId.split("#")[0])
      const processed = yield* RequestBatch.process(batch)
      assert.deepStrictEqual(processed.responses.map((r) => r.key), [chatId.split("#")[0], embedId.split("#")[0]])
    }).pipe(Effect.provide(fake.layer))
  })

  it.effect("wraps failures with their typed errors, for both kinds, without losing the batch", () => {
    const fake = makeFake()
    return Effect.gen(function*() {
      const batch = yield* RequestBatch.make()
      batch.chat.completions.create({ model: "m", messages: user("fine") })
      batch.chat.completions.create({ model: "m", messages: user("fail") })
      const invalidChat = batch.chat.completions.create({ model: "m", messages: [] as never })
      const invalidEmbedding = batch.embeddings.create({ model: "", input: "x" })
      batch.embeddings.create({ model: "e", input: "fine" })
      const { responses, stats } = yield* RequestBatch.process(batch)
      assert.deepStrictEqual(responses.map((r) => r._tag), ["Success", "Failure", "Failure", "Failure", "Success"])

      const apiFailure = responses[1]!
      assert.strictEqual(apiFailure.error?._tag, "ApiError")
      assert.strictEqual(apiFailure.isEmbedding, false)
      assert.strictEqual(apiFailure.kind, "chat")
      assert.strictEqual(apiFailure.attempts, 1)
      assert.strictEqual(apiFailure.response, undefined)
      assert.strictEqual(apiFailure.usage, undefined)
      assert.strictEqual(apiFailure.text, undefined)
      assert.deepStrictEqual(apiFailure.embeddings, [])
      assert.strictEqual(apiFailure.tokens.totalTokens, 0)
      assert.strictEqual(apiFailure.fromCache, false)
      assert.match(apiFailure.requestId, /^v1:[0-9a-f]{64}#1$/)
      assert.isTrue(Either.isLeft(ResponseWrapper.toEither(apiFailure)))

      const chatInvalid = responses[2]!
      assert.strictEqual(chatInvalid.requestId, invalidChat)
      assert.strictEqual(chatInvalid.error?._tag, "InvalidRequestError")
      assert.strictEqual(chatInvalid.key, undefined)
      assert.strictEqual(chatInvalid.attempts, 0)

      const embeddingInvalid = responses[3]!
      assert.strictEqual(embeddingInvalid.requestId, invalidEmbedding)
      assert.strictEqual(embeddingInvalid.isEmbedding, true)
      assert.deepStrictEqual(embeddingInvalid.embeddings, [])
      assert.strictEqual(
        embeddingInvalid.error?._tag === "InvalidRequestError" ? embeddingInvalid.error.path : undefined,
        "model"
      )

      assert.deepStrictEqual(responses[4]!.embeddings, [[4, 0]])
      assert.deepStrictEqual(fake.calls, ["chat:fine", "chat:fail", "embed:fine"])
      assert.strictEqual(stats.total, 5)
      assert.strictEqual(stats.done, 5)
      assert.strictEqual(stats.failed, 3)
      assert.strictEqual(stats.succeeded, 2)
      assert.deepStrictEqual(stats.failuresByKind, { ApiError: 1, InvalidRequestError: 2 })
    }).pipe(Effect.provide(fake.layer))
  })

  it.effect("refuses a batch keyed for another provider without sending anything", () => {
    const fake = makeFake()
    return Effect.gen(function*() {
      const batch = RequestBatch.forProvider("openai")
      batch.chat.completions.create({ model: "m", messages: user("x") })
      batch.embeddings.create({ model: "e", input: "x" })
      const { responses, stats } = yield* RequestBatch.process(batch)
      assert.deepStrictEqual(fake.calls, [])
      assert.deepStrictEqual(responses.map((r) => r.error?._tag), ["InvalidRequestError", "InvalidRequestError"])
      assert.deepStrictEqual(responses.map((r) => r.isEmbedding), [false, true])
      assert.include(responses[0]!.error?.message, `RequestBatch.forProvider("fake")`)
      assert.deepStrictEqual(responses.map((r) => r.requestId), batch.ids)
      assert.strictEqual(stats.failed, 2)
    }).pipe(Effect.provide(fake.layer))
  })

  it.effect("processes an empty batch", () => {
    const fake = makeFake()
    return Effect.gen(function*() {
      const { responses, stats } = yield* RequestBatch.process(yield* RequestBatch.make())
      assert.deepStrictEqual(responses, [])
      assert.strictEqual(stats.done, 0)
    }).pipe(Effect.provide(fake.layer))
  })
})

describe("ResponseWrapper", () => {
  it("wraps manager results of every kind with the same accessors", () => {
    const chat = ResponseWrapper.fromResult({
      _tag: "Success",
      kind: "chat",
      index: 4,
      key: "v1:k",
      attempts: 2,
      fromCache: false,
      deduplicated: false,
      response: { id: "c", model: "m", choices: [{ index: 0, message: { content: "hi" } }], usage: null },
      tokens: { promptTokens: 0, completionTokens: 0, totalTokens: 0, cachedTokens: 0, reasoningTokens: 0 }
    })
    assert.strictEqual(chat.requestId, "v1:k#4")
    assert.strictEqual(chat.usage, undefined)
    assert.strictEqual(chat.text, "hi")
    assert.isTrue(ResponseWrapper.isResponseWrapper(chat))
    assert.isTrue(ResponseWrapper.isSuccess(chat))
    assert.isFalse(ResponseWrapper.isResponseWrapper({ requestId: "x" }))

    const failure = ResponseWrapper.fromResult({
      _tag: "Failure",
      index: 0,
      key: undefined,
      kind: undefined,
      attempts: 0,
      error: new LLMError.InvalidRequestError({ reason: "bad" })
    })
    assert.strictEqual(failure.requestId, "invalid#0")
    assert.isTrue(ResponseWrapper.isFailure(failure))
    assert.strictEqual(failure.isEmbedding, false)
  })
})
