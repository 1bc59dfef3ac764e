import { assert, describe, it } from "@effect/vitest"
import { Cache, type ChatRequest, Provider, RequestBatch, RequestManager, Structured } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

// Structured outputs end to end: Structured → RequestManager → OpenAiProvider → real HTTP on
// 127.0.0.1 → the test server, which answers json_schema requests with schema-conforming JSON and,
// by share, with bad JSON, a missing field, a wrong enum value, or a refusal.

const Sentiment = Schema.Struct({
  label: Schema.Literal("positive", "negative", "neutral"),
  confidence: Schema.Number.pipe(Schema.between(0, 1))
})

/** The provider, recording every chat request it sends. */
const recordingProvider = (server: TestServer.TestServer, sent: Array<ChatRequest.ChatRequest>) =>
  Layer.effect(
    Provider.Provider,
    Effect.map(Provider.Provider, (inner): Provider.Provider.Service => ({
      ...inner,
      chat: (request, options) => Effect.suspend(() => (sent.push(request), inner.chat(request, options)))
    }))
  ).pipe(Layer.provide(OpenAiProvider.layer({ baseUrl: server.url })))

const managerLayer = (server: TestServer.TestServer, sent: Array<ChatRequest.ChatRequest> = []) =>
  RequestManager.layer({ concurrency: 32, maxRetries: 0 }).pipe(
    Layer.provide(recordingProvider(server, sent)),
    Layer.provide(Cache.memory())
  )

const requests = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    model: "gpt-4o-mini",
    messages: [{ role: "user" as const, content: `Classify the sentiment of review #${i}: "it was ${i % 3 === 0 ? "great" : "fine"}"` }]
  }))

const chatCalls = (stats: TestServer.ServerStats) => stats.byPath["/v1/chat/completions"] ?? 0

describe("Structured against the test server", () => {
  it.live("json_schema: every item ends typed or as an OutputError, repairs are counted, a rerun calls nothing", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { seed: 11, invalidOutput: 0.2 } })
      const sent: Array<ChatRequest.ChatRequest> = []
      yield* Effect.gen(function*() {
        const first = yield* Structured.run(requests(200), { schema: Sentiment })
        const { results, stats } = first
        assert.strictEqual(results.length, 200)
        for (const [i, result] of results.entries()) {
          assert.strictEqual(result.index, i)
          if (result._tag === "Success") {
            assert.include(["positive", "negative", "neutral"], result.value.label)
            assert.isTrue(result.value.confidence >= 0 && result.value.confidence <= 1)
            assert.strictEqual(result.requests, 1 + result.repairs)
          } else {
            assert.strictEqual(result.error._tag, "OutputError")
            if (result.error._tag !== "OutputError") continue
            assert.strictEqual(result.error.attempts, 3, "the first answer and 2 repairs")
            assert.strictEqual(result.repairs, 2)
            assert.isAbove(result.error.issue.length, 0)
          }
        }
        assert.strictEqual(stats.succeeded + stats.outputErrors, 200)
        assert.isAbove(stats.repairs, 20, "about a fifth of the answers were invalid")
        assert.isAbove(stats.repaired, 20)
        assert.strictEqual(stats.requests, 200 + stats.repairs)
        const seen = yield* server.stats
        // Every ask reached the server once; every invalid answer led to a repair or an OutputError.
        assert.strictEqual(chatCalls(seen), stats.requests)
        assert.strictEqual(stats.apiCalls, stats.requests)
        assert.strictEqual(seen.structuredAnswers.invalid, stats.repairs + stats.outputErrors)
        assert.strictEqual(seen.structuredAnswers.valid, stats.succeeded)
        assert.isAbove(stats.tokens.completionTokens, 0)

        // What was sent: a strict json_schema, and repairs that quote the answer and the issue.
        const format = sent[0]?.response_format
        assert.strictEqual(format?.type, "json_schema")
        assert.deepStrictEqual(format?.json_schema, {
          name: "output",
          schema: Structured.jsonSchema(Sentiment).pipe((e) => e._tag === "Right" ? e.right.schema : undefined),
          strict: true
        })
        const repair = sent.find((request) =>
          request.messages.length === 3 && String(request.messages[2]?.content).includes("does not match")
        )
        assert.isDefined(repair, "a schema repair was sent")
        const [question, answer, complaint] = repair!.messages
        assert.strictEqual(question?.role, "user")
        assert.strictEqual(answer?.role, "assistant")
        assert.strictEqual(complaint?.role, "user")
        assert.match(String(complaint?.content), /\["(label|confidence)"\]/, "the ParseResult issue names the field")
        assert.deepStrictEqual(repair!.response_format, format)
        const jsonRepair = sent.find((request) => String(request.messages.at(-1)?.content).includes("not valid JSON"))
        assert.isDefined(jsonRepair, "a bad-JSON repair was sent")

        // The rerun: the first asks and the repairs all come from the cache, decoded again.
        yield* server.reset
        const second = yield* Structured.run(requests(200), { schema: Sentiment })
        assert.strictEqual((yield* server.stats).requests, 0, "no request reached the server")
        assert.strictEqual(second.stats.apiCalls, 0)
        assert.strictEqual(second.stats.cached, stats.requests)
        assert.strictEqual(second.stats.repairs, stats.repairs)
        assert.deepStrictEqual(
          second.results.map((r) => r._tag === "Success" ? r.value : r.error._tag),
          results.map((r) => r._tag === "Success" ? r.value : r.error._tag)
        )

        // A changed transformation with the same JSON Schema: same requests, new values, no call.
        const Shouting = Schema.Struct({
          label: Schema.transform(Sentiment.fields.label, Schema.String, {
            strict: true,
            decode: (label) => label.toUpperCase(),
            encode: (label) => label.toLowerCase() as "positive"
          }),
          confidence: Sentiment.fields.confidence
        })
        const third = yield* Structured.run(requests(200), { schema: Shouting })
        assert.strictEqual((yield* server.stats).requests, 0)
        const firstValue = results.find((r) => r._tag === "Success")
        const thirdValue = third.results[firstValue!.index]
        assert.strictEqual(
          thirdValue?._tag === "Success" ? thirdValue.value.label : undefined,
          firstValue?._tag === "Success" ? firstValue.value.label.toUpperCase() : undefined
        )
      }).pipe(Effect.provide(managerLayer(server, sent)))
    }).pipe(Effect.scoped), 60_000)

  it.live("a refusal is its own failure and is not repaired", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { seed: 1, refusal: 1 } })
      const { results, stats } = yield* Structured.run(requests(5), { schema: Sentiment }).pipe(
        Effect.provide(managerLayer(server))
      )
      for (const result of results) {
        assert.strictEqual(result._tag, "Failure")
        if (result._tag !== "Failure") continue
        assert.strictEqual(result.error._tag, "RefusalError")
        assert.include(result.error.message, "The model refused")
        assert.strictEqual(result.requests, 1)
        assert.isDefined(result.response)
      }
      assert.strictEqual(stats.refusals, 5)
      assert.strictEqual(stats.repairs, 0)
      assert.strictEqual(chatCalls(yield* server.stats), 5)
    }).pipe(Effect.scoped))

  it.live("tool mode reads the forced call's arguments; json_object mode puts the schema in the prompt", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({})
      const sent: Array<ChatRequest.ChatRequest> = []
      yield* Effect.gen(function*() {
        const tool = yield* Structured.run(requests(4), { schema: Sentiment, name: "classify", mode: "tool" })
        assert.strictEqual(tool.stats.succeeded, 4)
        assert.deepStrictEqual<unknown>(sent[0]?.tool_choice, { type: "function", function: { name: "classify" } })
        assert.strictEqual(sent[0]?.tools?.[0]?.function?.name, "classify")

        // The test server cannot read a schema out of a prompt: it echoes, which is never JSON,
        // so the item is repaired twice and ends as an OutputError with the echo as its content.
        sent.length = 0
        const json = yield* Structured.execute(requests(1)[0], { schema: Sentiment, mode: "json_object", maxRepairs: 1 })
        assert.strictEqual(json._tag, "Failure")
        if (json._tag === "Failure" && json.error._tag === "OutputError") {
          assert.strictEqual(json.error.reason, "InvalidJson")
          assert.match(json.error.content ?? "", /^Echo: /)
          assert.strictEqual(json.error.attempts, 2)
        } else {
          assert.fail("expected an OutputError")
        }
        assert.deepStrictEqual(sent[0]?.response_format, { type: "json_object" })
        assert.strictEqual(sent[0]?.messages[0]?.role, "system")
        assert.include(String(sent[0]?.messages[0]?.content), "\"confidence\"")
      }).pipe(Effect.provide(managerLayer(server, sent)))
    }).pipe(Effect.scoped))

  it.live("a Schema strict mode cannot express fails before anything is sent; bad items fail alone", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({})
      yield* Effect.gen(function*() {
        const refused = yield* Structured.run(requests(3), {
          schema: Schema.Struct({ scores: Schema.Record({ key: Schema.String, value: Schema.Number }) })
        }).pipe(Effect.flip)
        assert.strictEqual(refused._tag, "UnsupportedSchemaError")
        assert.strictEqual(refused.path, "/properties/scores")
        assert.strictEqual((yield* server.stats).requests, 0)

        const batch = yield* RequestBatch.make()
        batch.chat.completions.create(requests(1)[0]!)
        batch.chat.completions.create({ model: "", messages: [] })
        batch.embeddings.create({ model: "e", input: "x" })
        const { results } = yield* Structured.run(batch, { schema: Sentiment })
        assert.deepStrictEqual(results.map((r) => r._tag), ["Success", "Failure", "Failure"])
        assert.deepStrictEqual(results.map((r) => r._tag === "Failure" ? r.error._tag : "ok"), [
          "ok",
          "InvalidRequestError",
          "InvalidRequestError"
        ])

        const streamed = yield* Structured.stream(Stream.fromIterable(requests(10)), { schema: Sentiment, window: 3 }).pipe(
          Stream.runCollect
        )
        assert.deepStrictEqual(Chunk.toReadonlyArray(streamed).map((r) => r.index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        assert.strictEqual(Structured.stats(streamed).succeeded, 10)
      }).pipe(Effect.provide(managerLayer(server)))
    }).pipe(Effect.scoped))
})
