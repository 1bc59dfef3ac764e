import type * as HttpClient from "@effect/platform/HttpClient"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { ChatRequest, Embedding, LLMError, type Provider } from "@fastllm/core"
import { OpenAiProvider, UndiciHttpClient } from "@fastllm/provider-openai"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { chatBody, closedPort, type Handler, json, serve } from "./fixtures/httpServer.js"

const apiKey = "sk-test-0123456789abcdefSECRET"

const chatRequest = Schema.decodeUnknownSync(ChatRequest.ChatRequest)({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "Say hello" }],
  temperature: 0,
  top_k: 20
})

const embeddingRequest = Schema.decodeUnknownSync(Embedding.EmbeddingRequest)({
  model: "text-embedding-3-small",
  input: ["a", "b"]
})

/** The two transports every behaviour is checked on: our lean default and platform-node's undici client. */
const transports: ReadonlyArray<readonly [string, Effect.Effect<HttpClient.HttpClient, never, Scope.Scope>]> = [
  ["UndiciHttpClient (default)", Effect.map(UndiciHttpClient.makeAgent(), UndiciHttpClient.make)],
  ["NodeHttpClient.makeUndici", Effect.map(UndiciHttpClient.makeAgent(), NodeHttpClient.makeUndici)]
]

const expectError = <A>(effect: Effect.Effect<A, LLMError.ProviderError>): Effect.Effect<LLMError.ProviderError> =>
  Effect.matchEffect(effect, {
    onFailure: Effect.succeed,
    onSuccess: () => Effect.dieMessage("expected the call to fail")
  })

for (const [transportName, transport] of transports) {
  describe(`OpenAiProvider over ${transportName}`, () => {
    const providerFor = (handler: Handler, options: OpenAiProvider.Options = {}) =>
      Effect.gen(function*() {
        const server = yield* serve(handler)
        const client = yield* transport
        const provider = OpenAiProvider.makeWith(client, {
          apiKey: Redacted.make(apiKey),
          baseUrl: server.baseUrl,
          ...options
        })
        return { server, provider }
      })

    const failWith = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      Effect.gen(function*() {
        const { provider } = yield* providerFor((_, res) => json(res, status, body, headers))
        return yield* expectError(provider.chat(chatRequest))
      })

    it.scopedLive("a chat completion: the request as sent, the response decoded, the rate-limit headers read", () =>
      Effect.gen(function*() {
        const { provider, server } = yield* providerFor((_, res) =>
          json(res, 200, chatBody("hi there"), {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "29990",
            "x-ratelimit-reset-tokens": "6m0s"
          })
        )
        const reply = yield* provider.chat(chatRequest)
        assert.strictEqual(reply.response.choices[0]?.message.content, "hi there")
        assert.strictEqual(reply.response.usage?.total_tokens, 6)
        assert.deepStrictEqual(reply.rateLimit, {
          limitRequests: 500,
          remainingRequests: 499,
          resetRequestsMillis: 120,
          limitTokens: 30000,
          remainingTokens: 29990,
          resetTokensMillis: 360_000
        })
        const seen = server.seen[0]!
        assert.strictEqual(seen.method, "POST")
        assert.strictEqual(seen.url, "/v1/chat/completions")
        assert.strictEqual(seen.headers["authorization"], `Bearer ${apiKey}`)
        assert.strictEqual(seen.headers["content-type"], "application/json")
        assert.deepStrictEqual(JSON.parse(seen.body), {
          model: "gpt-4o-mini",
          messages: [{ role: "user", content: "Say hello" }],
          temperature: 0,
          top_k: 20
        })
      }))

    it.scopedLive("embeddings go to /embeddings and decode", () =>
      Effect.gen(function*() {
        const { provider, server } = yield* providerFor((_, res) =>
          json(res, 200, {
            object: "list",
            data: [
              { object: "embedding", index: 1, embedding: [0.5, 0.25] },
              { object: "embedding", index: 0, embedding: [1, 2] }
            ],
            model: "text-embedding-3-small",
            usage: { prompt_tokens: 2, total_tokens: 2 }
          })
        )
        const reply = yield* provider.embed(embeddingRequest)
        assert.deepStrictEqual(Embedding.vectors(reply.response), [[1, 2], [0.5, 0.25]])
        assert.strictEqual(server.seen[0]!.url, "/v1/embeddings")
        assert.deepStrictEqual(JSON.parse(server.seen[0]!.body), { model: "text-embedding-3-small", input: ["a", "b"] })
        assert.isUndefined(reply.rateLimit)
      }))

    it.scopedLive("organization, project and extra headers arrive", () =>
      Effect.gen(function*() {
        const { provider, server } = yield* providerFor((_, res) => json(res, 200, chatBody()), {
          organization: "org-123",
          project: "proj_456",
          headers: { "HTTP-Referer": "https://example.test", "X-Title": "fastllm" }
        })
        yield* provider.chat(chatRequest)
        const headers = server.seen[0]!.headers
        assert.strictEqual(headers["openai-organization"], "org-123")
        assert.strictEqual(headers["openai-project"], "proj_456")
        assert.strictEqual(headers["http-referer"], "https://example.test")
        assert.strictEqual(headers["x-title"], "fastllm")
      }))

    it.scopedLive("OpenAI-compatible answers: unknown fields and finish reasons kept, usage and role absent", () =>
      Effect.gen(function*() {
        const { provider } = yield* providerFor((_, res) =>
          json(res, 200, {
            id: "cmpl-vllm",
            model: "llama",
            choices: [{
              index: 0,
              message: { content: "ok", reasoning_content: "thinking", vendor_field: 1 },
              finish_reason: "eos_token",
              stop_reason: 128001
            }],
            prompt_logprobs: null,
            kv_transfer_params: { a: 1 }
          })
        )
        const reply = yield* provider.chat(chatRequest)
        const response: Record<string, unknown> = reply.response
        const choice: Record<string, unknown> = reply.response.choices[0]!
        assert.strictEqual(reply.response.choices[0]?.finish_reason, "eos_token")
        assert.isUndefined(reply.response.usage)
        assert.deepStrictEqual(response["kv_transfer_params"], { a: 1 })
        assert.strictEqual(choice["stop_reason"], 128001)
        const message: Record<string, unknown> = reply.response.choices[0]!.message
        assert.strictEqual(message["vendor_field"], 1)
      }))

    it.scopedLive("429 with retry-after-ms: a requests RateLimitError with that delay", () =>
      Effect.gen(function*() {
        const error = yield* failWith(429, {
          error: { message: "Rate limit reached for requests per min (RPM)", type: "requests", code: "rate_limit_exceeded" }
        }, { "retry-after-ms": "1500", "retry-after": "9" })
        assert.strictEqual(error._tag, "RateLimitError")
        if (error._tag !== "RateLimitError") return
        assert.strictEqual(error.kind, "requests")
        assert.strictEqual(Duration.toMillis(error.retryAfter!), 1500)
        assert.isTrue(LLMError.isRetryable(error))
      }))

    it.scopedLive("429 with retry-after in seconds", () =>
      Effect.gen(function*() {
        const error = yield* failWith(429, { error: { message: "slow down" } }, { "retry-after": "2" })
        assert.strictEqual(error._tag, "RateLimitError")
        if (error._tag !== "RateLimitError") return
        assert.strictEqual(Duration.toMillis(error.retryAfter!), 2000)
      }))

    it.scopedLive("429 with retry-after as an HTTP date", () =>
      Effect.gen(function*() {
        const at = new Date(Date.now() + 30_000).toUTCString()
        const error = yield* failWith(429, { error: { message: "slow down" } }, { "retry-after": at })
        assert.strictEqual(error._tag, "RateLimitError")
        if (error._tag !== "RateLimitError") return
        const millis = Duration.toMillis(error.retryAfter!)
        // an HTTP date has whole seconds: between 29 and 30 seconds from now
        assert.isAtLeast(millis, 28_000)
        assert.isAtMost(millis, 30_000)
      }))

    it.scopedLive("429 over tokens with only x-ratelimit-reset-tokens: kind tokens, delay from the header", () =>
      Effect.gen(function*() {
        const error = yield* failWith(429, {
          error: {
            message: "Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 10000, Used 9990, Requested 50.",
            type: "tokens",
            code: "rate_limit_exceeded"
          }
        }, {
          "x-ratelimit-remaining-requests": "10",
          "x-ratelimit-reset-requests": "1s",
          "x-ratelimit-remaining-tokens": "0",
          "x-ratelimit-reset-tokens": "2.5s"
        })
        assert.strictEqual(error._tag, "RateLimitError")
        if (error._tag !== "RateLimitError") return
        assert.strictEqual(error.kind, "tokens")
        assert.strictEqual(Duration.toMillis(error.retryAfter!), 2500)
      }))

    it.scopedLive("429 insufficient_quota: kind quota, not retryable", () =>
      Effect.gen(function*() {
        const error = yield* failWith(429, {
          error: {
            message: "You exceeded your current quota, please check your plan and billing details.",
            type: "insufficient_quota",
            code: "insufficient_quota",
            param: null
          }
        }, { "retry-after": "1" })
        assert.strictEqual(error._tag, "RateLimitError")
        if (error._tag !== "RateLimitError") return
        assert.strictEqual(error.kind, "quota")
        assert.isFalse(LLMError.isRetryable(error))
      }))

    it.scopedLive("408, 409 and 5xx: retryable ApiErrors", () =>
      Effect.gen(function*() {
        for (const status of [408, 409, 500, 502, 503, 504]) {
          const error = yield* failWith(status, { error: { message: `status ${status}`, type: "server_error" } })
          assert.strictEqual(error._tag, "ApiError")
          if (error._tag !== "ApiError") return
          assert.strictEqual(error.status, status)
          assert.strictEqual(error.type, "server_error")
          assert.isTrue(error.retryable)
        }
        // a gateway's plain-text 502
        const { provider } = yield* providerFor((_, res) => {
          res.writeHead(502, { "content-type": "text/html" })
          res.end("<html>Bad gateway</html>")
        })
        const error = yield* expectError(provider.chat(chatRequest))
        assert.strictEqual(error._tag, "ApiError")
        if (error._tag !== "ApiError") return
        assert.strictEqual(error.detail, "<html>Bad gateway</html>")
        assert.isTrue(error.retryable)
      }))

    it.scopedLive("400, 401, 403, 404 and 422: ApiErrors with OpenAI's type, code, param and message, not retryable", () =>
      Effect.gen(function*() {
        for (const status of [400, 401, 403, 404, 422]) {
          const error = yield* failWith(status, {
            error: { message: `bad ${status}`, type: "invalid_request_error", code: "some_code", param: "messages" }
          })
          assert.strictEqual(error._tag, "ApiError")
          if (error._tag !== "ApiError") return
          assert.deepStrictEqual(
            { status: error.status, type: error.type, code: error.code, param: error.param, detail: error.detail },
            { status, type: "invalid_request_error", code: "some_code", param: "messages", detail: `bad ${status}` }
          )
          assert.isFalse(error.retryable)
          assert.isFalse(LLMError.isRetryable(error))
        }
        // vLLM/FastAPI style and Ollama style bodies
        const vllm = yield* failWith(422, { detail: [{ loc: ["body", "model"], msg: "field required" }] })
        assert.strictEqual(vllm._tag, "ApiError")
        if (vllm._tag === "ApiError") assert.include(vllm.detail, "field required")
        const ollama = yield* failWith(404, { error: "model \"llama9\" not found, try pulling it first" })
        assert.strictEqual(ollama._tag, "ApiError")
        if (ollama._tag === "ApiError") assert.strictEqual(ollama.detail, "model \"llama9\" not found, try pulling it first")
      }))

    it.scopedLive("connection refused: TransportError", () =>
      Effect.gen(function*() {
        const port = yield* closedPort
        const client = yield* transport
        const provider = OpenAiProvider.makeWith(client, { baseUrl: `http://127.0.0.1:${port}/v1` })
        const error = yield* expectError(provider.chat(chatRequest))
        assert.strictEqual(error._tag, "TransportError")
        if (error._tag === "TransportError") assert.include(error.reason, "ECONNREFUSED")
        assert.isTrue(LLMError.isRetryable(error))
      }))

    it.scopedLive("connection reset before an answer: TransportError", () =>
      Effect.gen(function*() {
        const { provider } = yield* providerFor((_, res, socket) => {
          res.on("error", () => {})
          socket.destroy()
        })
        const error = yield* expectError(provider.chat(chatRequest))
        assert.strictEqual(error._tag, "TransportError")
        assert.isTrue(LLMError.isRetryable(error))
      }))

    it.scopedLive("a hung server: TimeoutError after the provider's timeout, and the request is aborted", () =>
      Effect.gen(function*() {
        const { provider, server } = yield* providerFor(() => {}, { timeout: "150 millis" })
        const started = Date.now()
        const error = yield* expectError(provider.chat(chatRequest))
        assert.strictEqual(error._tag, "TimeoutError")
        if (error._tag === "TimeoutError") assert.strictEqual(Duration.toMillis(error.timeout), 150)
        assert.isBelow(Date.now() - started, 5_000)
        // the socket is closed, so the server sees the request go away
        yield* Effect.sleep("100 millis")
        assert.strictEqual(server.aborted.count, 1)
      }))

    it.scopedLive("a hung server: the caller's per-attempt timeout (CallOptions) is enforced, the shorter one wins", () =>
      Effect.gen(function*() {
        const { provider, server } = yield* providerFor(() => {}, { timeout: "10 seconds" })
        assert.isTrue(provider.enforcesTimeout === true)
        const error = yield* expectError(provider.chat(chatRequest, { timeout: Duration.millis(120) }))
        assert.strictEqual(error._tag, "TimeoutError")
        if (error._tag === "TimeoutError") assert.strictEqual(Duration.toMillis(error.timeout), 120)
        yield* Effect.sleep("100 millis")
        assert.strictEqual(server.aborted.count, 1)
        // a fast answer is not disturbed by a pending deadline
        const { provider: fast } = yield* providerFor((_, res) => json(res, 200, chatBody("quick")))
        const reply = yield* fast.chat(chatRequest, { timeout: Duration.millis(2_000) })
        assert.strictEqual(reply.response.choices[0]?.message.content, "quick")
      }))

    it.scopedLive("a 200 whose body is not JSON: retryable DecodeError", () =>
      Effect.gen(function*() {
        const { provider } = yield* providerFor((_, res) => {
          res.writeHead(200, { "content-type": "application/json" })
          res.end("{\"id\": \"x\", \"choices\": [ this is not json")
        })
        const error = yield* expectError(provider.chat(chatRequest))
        assert.strictEqual(error._tag, "DecodeError")
        if (error._tag === "DecodeError") assert.isTrue(error.retryable)
      }))

    it.scopedLive("a 200 cut off half way (content-length not met, socket closed): retryable DecodeError", () =>
      Effect.gen(function*() {
        const { provider } = yield* providerFor((_, res, socket) => {
          const text = JSON.stringify(chatBody())
          res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
          res.write(text.slice(0, 40), () => socket.destroy())
        })
        const error = yield* expectError(provider.chat(chatRequest))
        assert.strictEqual(error._tag, "DecodeError")
        if (error._tag === "DecodeError") assert.isTrue(error.retryable)
      }))

    it.scopedLive("a 200 with JSON of the wrong shape: DecodeError, not retryable", () =>
      Effect.gen(function*() {
        const error = yield* failWith(200, { id: "x", model: "m", choices: "none" })
        assert.strictEqual(error._tag, "DecodeError")
        if (error._tag === "DecodeError") assert.isFalse(error.retryable)
      }))

    it.scopedLive("a 200 carrying an error object (some gateways): ApiError with its code", () =>
      Effect.gen(function*() {
        const error = yield* failWith(200, { error: { message: "upstream overloaded", code: 503 } })
        assert.strictEqual(error._tag, "ApiError")
        if (error._tag !== "ApiError") return
        assert.strictEqual(error.status, 503)
        assert.isTrue(error.retryable)
      }))
  })
}

describe("OpenAiProvider: configuration", () => {
  it.scoped("the provider name: openai for OpenAI, host and path for other servers, never the key", () =>
    Effect.gen(function*() {
      const client = UndiciHttpClient.make(yield* UndiciHttpClient.makeAgent())
      const make = (options: OpenAiProvider.Options): Provider.Provider.Service =>
        OpenAiProvider.makeWith(client, { apiKey: Redacted.make(apiKey), ...options })
      assert.strictEqual(make({}).name, "openai")
      assert.strictEqual(make({ baseUrl: "https://api.openai.com/v1/" }).name, "openai")
      assert.strictEqual(
        make({ baseUrl: "http://user:pass@127.0.0.1:8000/v1" }).name,
        "openai-compatible:127.0.0.1:8000/v1"
      )
      assert.strictEqual(make({ name: "mine" }).name, "mine")
    }))
})
