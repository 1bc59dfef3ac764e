import { assert, describe, it } from "@effect/vitest"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base"
import { Cache, RequestManager } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"

// Spans of a batch over real HTTP, exported through @effect/opentelemetry into OpenTelemetry's
// in-memory exporter.

const apiKey = "sk-trace-test-0123456789abcdef"
const chat = (i: number, content = `question ${i}`) => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user" as const, content }],
  max_tokens: 16,
  temperature: 0
})

// Runs `effect` with an OpenTelemetry tracer exporting to memory, and returns its value with the
// spans finished by then (read before the provider shuts down: shutting down clears the exporter).
const traced = <A, E, R>(effect: Effect.Effect<A, E, R>) => {
  const exporter = new InMemorySpanExporter()
  return effect.pipe(
    Effect.map((value) => ({ value, spans: exporter.getFinishedSpans() })),
    Effect.provide(NodeSdk.layer(() => ({
      resource: { serviceName: "fastllm-test" },
      spanProcessor: new SimpleSpanProcessor(exporter)
    })))
  )
}

const managerWith = (server: TestServer.TestServer, options: RequestManager.Options) =>
  RequestManager.layer({ concurrency: 4, ...options }).pipe(
    Layer.provide(OpenAiProvider.layer({ baseUrl: server.url, apiKey: Redacted.make(apiKey), name: "trace-test" })),
    Layer.provide(Cache.memory())
  )

describe("tracing", () => {
  it.live("a batch, its items and their attempts become spans with the GenAI attributes, and no key", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* TestServer.make({
        apiKey,
        latency: { minMs: 1, maxMs: 3 },
        faults: { seed: 3, serverError: 0.3 }
      })
      const program = Effect.gen(function*() {
        // the same request twice: the second is a cache hit or a shared answer
        return yield* RequestManager.run([chat(1), chat(2), chat(3), chat(1)])
      })
      const { spans, value: { results } } = yield* traced(
        program.pipe(Effect.provide(managerWith(server, { maxRetries: 6 })))
      )
      assert.isTrue(results.every((r) => r._tag === "Success"))
      const batch = spans.filter((s) => s.name === "fastllm.batch")
      const items = spans.filter((s) => s.name === "fastllm.item gpt-4o-mini")
      const attempts = spans.filter((s) => s.name === "chat gpt-4o-mini")
      assert.strictEqual(batch.length, 1)
      assert.strictEqual(batch[0]!.attributes["fastllm.batch.items"], 4)
      assert.strictEqual(items.length, 4)
      // one attempt per distinct request, plus one per injected 5xx that was retried
      const serverStats = yield* server.stats
      assert.strictEqual(attempts.length, serverStats.requests)
      assert.isAbove(attempts.length, 2)
      for (const item of items) {
        assert.strictEqual(item.parentSpanContext?.spanId, batch[0]!.spanContext().spanId)
        assert.strictEqual(item.attributes["gen_ai.operation.name"], "chat")
        assert.strictEqual(item.attributes["gen_ai.request.model"], "gpt-4o-mini")
        assert.strictEqual(item.attributes["gen_ai.request.max_tokens"], 16)
        assert.strictEqual(item.attributes["gen_ai.request.temperature"], 0)
        assert.isNumber(item.attributes["gen_ai.usage.input_tokens"])
        assert.isNumber(item.attributes["gen_ai.usage.output_tokens"])
        // @effect/opentelemetry exports array attributes as JSON text
        assert.deepStrictEqual(JSON.parse(String(item.attributes["gen_ai.response.finish_reasons"])), ["stop"])
        assert.isBoolean(item.attributes["fastllm.cache_hit"])
        assert.isNumber(item.attributes["fastllm.retries"])
        assert.isNumber(item.attributes["fastllm.cost_usd"])
        // no content unless asked
        assert.isUndefined(item.attributes["gen_ai.input.messages"])
        assert.isUndefined(item.attributes["gen_ai.output.messages"])
      }
      const retried = items.filter((s) => Number(s.attributes["fastllm.retries"]) > 0)
      assert.isAbove(retried.length, 0)
      const failedAttempts = attempts.filter((s) => s.attributes["error.type"] !== undefined)
      assert.strictEqual(failedAttempts.length, serverStats.faults.serverError)
      for (const attempt of failedAttempts) assert.strictEqual(attempt.attributes["error.type"], "ApiError")
      // the key is nowhere: not in names, attributes or events
      const everything = JSON.stringify(spans.map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })))
      assert.notInclude(everything, apiKey)
      assert.notInclude(everything, "sk-trace")
    })), 30_000)

  it.live("content on request; no spans with tracing: false or with no tracer installed", () =>
    Effect.scoped(Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey, latency: { minMs: 1, maxMs: 2 } })
      const withContent = yield* traced(RequestManager.run([chat(7, "tell me a secret-free story")]).pipe(
        Effect.provide(managerWith(server, { tracing: { content: true } }))
      ))
      const item = withContent.spans.find((s) => s.name.startsWith("fastllm.item"))
      assert.include(String(item?.attributes["gen_ai.input.messages"]), "tell me a secret-free story")
      assert.include(String(item?.attributes["gen_ai.output.messages"]), "assistant")

      const off = yield* traced(RequestManager.run([chat(8)]).pipe(
        Effect.provide(managerWith(server, { tracing: false }))
      ))
      assert.strictEqual(off.spans.length, 0)

      // Effect's built-in tracer: no span is even made (checked through the current span)
      const spanInside = yield* RequestManager.run([chat(9)]).pipe(
        Effect.zipRight(Effect.option(Effect.currentSpan)),
        Effect.provide(managerWith(server, {}))
      )
      assert.strictEqual(spanInside._tag, "None")
    })), 30_000)
})
