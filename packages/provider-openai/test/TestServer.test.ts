import { assert, describe, it } from "@effect/vitest"
import { ChatRequest, Embedding, LLMError, Provider } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

// The provider against the testing package's server: each injected fault, with the shapes that
// server really produces, maps to the right typed error; and the pool is sized as documented.

const request = (content: string) =>
  Schema.decodeUnknownSync(ChatRequest.ChatRequest)({ model: "gpt-4o-mini", messages: [{ role: "user", content }] })

const providerFor = (url: string, options: OpenAiProvider.LayerOptions = {}) =>
  Effect.map(
    Layer.build(OpenAiProvider.layer({ apiKey: Redacted.make("sk-test"), baseUrl: url, ...options })),
    (context) => Context.get(context, Provider.Provider)
  )

const failure = <A>(effect: Effect.Effect<A, LLMError.ProviderError>): Effect.Effect<LLMError.ProviderError> =>
  Effect.matchEffect(effect, {
    onFailure: Effect.succeed,
    onSuccess: () => Effect.dieMessage("expected the call to fail")
  })

describe("OpenAiProvider against TestServer", () => {
  it.scopedLive("chat and embeddings succeed, with the server's answer", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({})
      const provider = yield* providerFor(server.url)
      const chat = yield* provider.chat(request("ping"))
      assert.match(chat.response.choices[0]?.message.content ?? "", /^Echo: ping/)
      const embedding = yield* provider.embed(
        Schema.decodeUnknownSync(Embedding.EmbeddingRequest)({ model: "text-embedding-3-small", input: "x", dimensions: 4 })
      )
      assert.deepStrictEqual(Embedding.vectors(embedding.response).map((v) => v.length), [4])
    }))

  it.scopedLive("each injected fault becomes its typed error", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({})
      const provider = yield* providerFor(server.url, { timeout: "300 millis" })
      const only = (fault: string) =>
        server.configure({ faults: { seed: 1, [fault]: 1, retryAfterMs: [250, 250] } })

      yield* only("reset")
      assert.strictEqual((yield* failure(provider.chat(request("a"))))._tag, "TransportError")

      yield* only("malformed")
      const malformed = yield* failure(provider.chat(request("b")))
      assert.isTrue(malformed._tag === "DecodeError" && malformed.retryable)

      yield* only("truncated")
      const truncated = yield* failure(provider.chat(request("c")))
      assert.isTrue(truncated._tag === "DecodeError" && truncated.retryable)

      yield* only("hang")
      const hang = yield* failure(provider.chat(request("d")))
      assert.isTrue(hang._tag === "TimeoutError" && Duration.toMillis(hang.timeout) === 300)

      yield* only("serverError")
      const serverError = yield* failure(provider.chat(request("e")))
      assert.isTrue(serverError._tag === "ApiError" && serverError.retryable && serverError.status >= 500)

      yield* only("rateLimit")
      const rateLimited = yield* failure(provider.chat(request("f")))
      assert.strictEqual(rateLimited._tag, "RateLimitError")
      if (rateLimited._tag === "RateLimitError") {
        assert.strictEqual(rateLimited.kind, "requests")
        assert.strictEqual(Duration.toMillis(rateLimited.retryAfter!), 250)
      }

      yield* only("slowBody")
      const slow = yield* provider.chat(request("g"))
      assert.match(slow.response.choices[0]?.message.content ?? "", /^Echo: g/)

      yield* server.configure({ faults: {}, insufficientQuota: true })
      const quota = yield* failure(provider.chat(request("h")))
      assert.isTrue(quota._tag === "RateLimitError" && quota.kind === "quota" && !LLMError.isRetryable(quota))
    }))

  it.scopedLive("a wrong key is a 401 ApiError; an unknown model a 404 one; neither retryable", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey: "sk-right", models: ["gpt-4o-mini"] })
      const wrong = yield* providerFor(server.url)
      const unauthorized = yield* failure(wrong.chat(request("x")))
      assert.isTrue(unauthorized._tag === "ApiError" && unauthorized.status === 401 && !unauthorized.retryable)
      assert.notInclude(unauthorized.message, "sk-test")

      const right = yield* providerFor(server.url, { apiKey: Redacted.make("sk-right") })
      const missing = yield* failure(
        right.chat(
          Schema.decodeUnknownSync(ChatRequest.ChatRequest)({ model: "gpt-9", messages: [{ role: "user", content: "x" }] })
        )
      )
      assert.isTrue(missing._tag === "ApiError" && missing.status === 404 && !missing.retryable)
    }))

  it.scopedLive("the rate-limit headers of a limited server reach the reply", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ requestsPerMinute: 600, tokensPerMinute: 100_000 })
      const provider = yield* providerFor(server.url)
      const reply = yield* provider.chat(request("limits"))
      assert.strictEqual(reply.rateLimit?.limitRequests, 600)
      assert.strictEqual(reply.rateLimit?.limitTokens, 100_000)
      assert.isDefined(reply.rateLimit?.remainingRequests)
    }))

  it.scopedLive("the default pool is not a hidden cap: 100 calls at once are 100 requests in flight", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 150 } })
      const calls = Array.from({ length: 100 }, (_, i) => request(`in flight ${i}`))
      const uncapped = yield* providerFor(server.url)
      yield* Effect.forEach(calls, (call) => uncapped.chat(call), { concurrency: "unbounded", discard: true })
      assert.strictEqual((yield* server.stats).maxConcurrent, 100)

      // an explicit `connections` caps the sockets, and so the requests in flight
      yield* server.reset
      const capped = yield* providerFor(server.url, { connections: 8 })
      yield* Effect.forEach(calls.slice(0, 24), (call) => capped.chat(call), { concurrency: "unbounded", discard: true })
      assert.strictEqual((yield* server.stats).maxConcurrent, 8)
    }))

  it.scopedLive("a call interrupted while it waits for a connection is never sent", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 300 } })
      const provider = yield* providerFor(server.url, { connections: 1, timeout: "100 millis" })
      const errors = yield* Effect.forEach(
        [request("first"), request("second"), request("third")],
        (call) => failure(provider.chat(call)),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(errors.map((error) => error._tag), ["TimeoutError", "TimeoutError", "TimeoutError"])
      // the first went out and was aborted; the two queued behind it never reached the server
      yield* Effect.sleep("400 millis")
      assert.strictEqual((yield* server.stats).requests, 1)
      // and the pool still works afterwards
      yield* server.configure({ latency: { minMs: 0 } })
      const reply = yield* provider.chat(request("after"))
      assert.match(reply.response.choices[0]?.message.content ?? "", /^Echo: after/)
    }))
})
