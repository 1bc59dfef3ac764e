import { assert, describe, it } from "@effect/vitest"
import { ApiRequest, ChatRequest, ChatResponse, Embedding, LLMError, Message, RateLimitHeaders, TokenStats } from "@fastllm/core"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

const roundTrip = <A, I>(schema: Schema.Schema<A, I>, input: unknown): unknown => {
  const decoded = Schema.decodeUnknownSync(schema)(input)
  return Schema.encodeSync(schema)(decoded)
}

describe("models", () => {
  it("decodes every message role, content parts and tool calls", () => {
    const messages = [
      { role: "system", content: "s", name: "n" },
      { role: "developer", content: [{ type: "text", text: "d" }] },
      {
        role: "user",
        content: [
          { type: "text", text: "look" },
          { type: "image_url", image_url: { url: "data:image/png;base64,AAAA", detail: "low" } },
          { type: "input_audio", input_audio: { data: "AAAA", format: "wav" } },
          { type: "file", file: { file_id: "file-1" } },
          { type: "video_url", video_url: { url: "https://example.com/v.mp4" } }
        ]
      },
      {
        role: "assistant",
        content: null,
        tool_calls: [{ id: "call_1", type: "function", function: { name: "f", arguments: "{}" } }]
      },
      { role: "tool", content: "42", tool_call_id: "call_1" },
      { role: "function", content: "x", name: "f" }
    ]
    for (const message of messages) {
      assert.deepStrictEqual(roundTrip(Message.Message, message), message)
    }
  })

  it("rejects a known content part with missing fields, naming the path", () => {
    const result = ApiRequest.decode({
      model: "m",
      messages: [{ role: "user", content: [{ type: "image_url", image_url: {} }] }]
    })
    assert(Either.isLeft(result))
    assert.include(result.left.path ?? "", "messages[0].content")
  })

  it("keeps unknown request fields and sends them on unchanged", () => {
    const input = {
      model: "m",
      messages: [{ role: "user", content: "x", cache_control: { type: "ephemeral" } }],
      top_k: 20,
      extra_body: { guided_json: { type: "object" } },
      temperature: 0
    }
    assert.deepStrictEqual(roundTrip(ChatRequest.ChatRequest, input), input)
  })

  it("validates request parameters with a clear message", () => {
    const cases: Array<[unknown, string]> = [
      [{ messages: [{ role: "user", content: "x" }] }, "model"],
      [{ model: "m", messages: [] }, "messages"],
      [{ model: "m", messages: [{ role: "user", content: "x" }], temperature: "hot" }, "temperature"],
      [{ model: "m", messages: [{ role: "user", content: "x" }], max_tokens: -1 }, "max_tokens"],
      [{ model: "m", messages: [{ role: "wizard", content: "x" }] }, "messages[0]"]
    ]
    for (const [input, path] of cases) {
      const result = ApiRequest.decode(input, "chat")
      assert(Either.isLeft(result), `expected ${JSON.stringify(input)} to be invalid`)
      assert.include(result.left.path ?? "", path)
      assert.include(result.left.message, "Invalid request at")
    }
    const notAnObject = ApiRequest.decode("hello")
    assert(Either.isLeft(notAnObject))
    assert.include(notAnObject.left.message, "JSON object")
  })

  it("decodes responses from OpenAI-compatible servers tolerantly and re-encodes them losslessly", () => {
    const responses = [
      // OpenAI, full
      {
        id: "chatcmpl-1",
        object: "chat.completion",
        created: 1_700_000_000,
        model: "gpt-4o-mini",
        system_fingerprint: "fp_1",
        service_tier: "default",
        choices: [{
          index: 0,
          message: { role: "assistant", content: "hi", refusal: null, annotations: [] },
          logprobs: null,
          finish_reason: "stop"
        }],
        usage: {
          prompt_tokens: 5,
          completion_tokens: 1,
          total_tokens: 6,
          prompt_tokens_details: { cached_tokens: 2, audio_tokens: 0 },
          completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 }
        }
      },
      // vLLM-like: unknown fields, unknown finish reason, reasoning content, no usage
      {
        id: "cmpl-2",
        model: "llama",
        choices: [{ index: 0, message: { role: "assistant", content: "x", reasoning_content: "hmm" }, finish_reason: "abort", stop_reason: 128009 }],
        prompt_logprobs: null,
        kv_transfer_params: null
      },
      // Ollama-like: no object, no created, no role
      { id: "x", model: "m", choices: [{ index: 0, message: { content: "y" }, finish_reason: "length" }] }
    ]
    for (const response of responses) {
      assert.deepStrictEqual(roundTrip(ChatResponse.ChatResponse, response), response)
    }
    assert.strictEqual(ChatResponse.text(Schema.decodeUnknownSync(ChatResponse.ChatResponse)(responses[0])), "hi")
  })

  it("decodes embeddings, float and base64", () => {
    const floats = new Float32Array([0.5, -0.25, 1])
    const base64 = Buffer.from(floats.buffer).toString("base64")
    const response = Schema.decodeUnknownSync(Embedding.EmbeddingResponse)({
      object: "list",
      model: "text-embedding-3-small",
      data: [
        { object: "embedding", index: 1, embedding: base64 },
        { object: "embedding", index: 0, embedding: [0.1, 0.2] }
      ],
      usage: { prompt_tokens: 3, total_tokens: 3 }
    })
    assert.deepStrictEqual(Embedding.vectors(response), [[0.1, 0.2], [0.5, -0.25, 1]])
    assert.deepStrictEqual(TokenStats.fromUsage(response.usage), {
      promptTokens: 3,
      completionTokens: 0,
      totalTokens: 3,
      cachedTokens: 0,
      reasoningTokens: 0
    })
  })

  it("sums token stats including cached and reasoning tokens", () => {
    const a = TokenStats.fromUsage({
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      prompt_tokens_details: { cached_tokens: 4 },
      completion_tokens_details: { reasoning_tokens: 3 }
    })
    assert.deepStrictEqual(TokenStats.add(a, a), {
      promptTokens: 20,
      completionTokens: 10,
      totalTokens: 30,
      cachedTokens: 8,
      reasoningTokens: 6
    })
    assert.deepStrictEqual(TokenStats.fromUsage(undefined), TokenStats.empty)
  })
})

describe("errors", () => {
  it("say what happened in a message a person can act on", () => {
    assert.strictEqual(
      new LLMError.ApiError({ status: 401, type: "invalid_request_error", code: "invalid_api_key", detail: "Incorrect API key provided", retryable: false }).message,
      "API error 401 (invalid_request_error/invalid_api_key): Incorrect API key provided"
    )
    assert.strictEqual(
      new LLMError.RateLimitError({ kind: "tokens", retryAfter: Duration.millis(1500) }).message,
      "Rate limited (tokens per minute); retry after 1s 500ms"
    )
    assert.include(new LLMError.RateLimitError({ kind: "quota" }).message, "billing")
    assert.strictEqual(new LLMError.TimeoutError({ timeout: Duration.seconds(30) }).message, "No response within 30s (the per-attempt timeout)")
    assert.strictEqual(new LLMError.InvalidRequestError({ reason: "must be a number", path: "temperature" }).message, "Invalid request at temperature: must be a number")
    assert.strictEqual(new LLMError.CacheError({ operation: "open", reason: "path is not writable", path: "/x" }).message, "Cache open failed for /x: path is not writable")
  })

  it("classify what is worth retrying", () => {
    const cases: Array<[LLMError.LLMError, boolean]> = [
      [new LLMError.ApiError({ status: 503, detail: "", retryable: true }), true],
      [new LLMError.ApiError({ status: 400, detail: "", retryable: false }), false],
      [new LLMError.RateLimitError({ kind: "requests" }), true],
      [new LLMError.RateLimitError({ kind: "tokens" }), true],
      [new LLMError.RateLimitError({ kind: "quota" }), false],
      [new LLMError.TimeoutError({ timeout: Duration.seconds(1) }), true],
      [new LLMError.TransportError({ reason: "ECONNRESET" }), true],
      [new LLMError.DecodeError({ reason: "truncated", retryable: true }), true],
      [new LLMError.DecodeError({ reason: "wrong shape", retryable: false }), false],
      [new LLMError.InvalidRequestError({ reason: "x" }), false],
      [new LLMError.CacheError({ operation: "get", reason: "x" }), false]
    ]
    for (const [error, retryable] of cases) assert.strictEqual(LLMError.isRetryable(error), retryable, error.message)
    for (const status of [408, 409, 429, 500, 502, 503, 504]) assert.isTrue(LLMError.isRetryableStatus(status))
    for (const status of [400, 401, 403, 404, 422]) assert.isFalse(LLMError.isRetryableStatus(status))
  })

  it("encode to JSON and back (for output files)", () => {
    const error = new LLMError.RateLimitError({ kind: "requests", retryAfter: Duration.millis(250), detail: "slow down" })
    const encoded = Schema.encodeSync(LLMError.LLMError)(error)
    assert.deepStrictEqual(encoded, { _tag: "RateLimitError", kind: "requests", retryAfter: 250, detail: "slow down" })
    assert.deepStrictEqual(Schema.decodeUnknownSync(LLMError.LLMError)(encoded), error)
  })
})

describe("RateLimitHeaders", () => {
  it("parses OpenAI's reset durations", () => {
    const cases: Array<[string, number | undefined]> = [
      ["1s", 1000],
      ["6m0s", 360_000],
      ["20ms", 20],
      ["1h2m3.5s", 3_723_500],
      ["0.5s", 500],
      ["17", 17_000],
      ["soon", undefined],
      ["", undefined]
    ]
    for (const [text, millis] of cases) assert.strictEqual(RateLimitHeaders.parseResetMillis(text), millis, text)
  })

  it("formats durations the way OpenAI does and parses them back", () => {
    for (const millis of [0, 20, 999, 1000, 1500, 59_000, 360_000, 3_723_000]) {
      assert.strictEqual(RateLimitHeaders.parseResetMillis(RateLimitHeaders.formatResetMillis(millis)), millis)
    }
    assert.strictEqual(RateLimitHeaders.formatResetMillis(360_000), "6m0s")
  })

  it("reads the x-ratelimit headers and writes them back", () => {
    const headers = {
      "x-ratelimit-limit-requests": "3000",
      "x-ratelimit-remaining-requests": "2999",
      "x-ratelimit-reset-requests": "20ms",
      "x-ratelimit-limit-tokens": "300000",
      "x-ratelimit-remaining-tokens": "299000",
      "x-ratelimit-reset-tokens": "200ms"
    }
    const info = RateLimitHeaders.parse(headers)
    assert.deepStrictEqual(info, {
      limitRequests: 3000,
      remainingRequests: 2999,
      resetRequestsMillis: 20,
      limitTokens: 300_000,
      remainingTokens: 299_000,
      resetTokensMillis: 200
    })
    assert.deepStrictEqual(RateLimitHeaders.toHeaders(info!), headers)
    assert.strictEqual(RateLimitHeaders.parse({ "content-type": "application/json" }), undefined)
  })

  it("takes Retry-After from retry-after-ms, retry-after seconds or date, then the resets", () => {
    const now = Date.parse("2026-11-25T12:00:00Z")
    const millis = (headers: RateLimitHeaders.HeaderLookup) => {
      const duration = RateLimitHeaders.retryAfter(headers, now)
      return duration === undefined ? undefined : Duration.toMillis(duration)
    }
    assert.strictEqual(millis({ "retry-after-ms": "250", "retry-after": "1" }), 250)
    assert.strictEqual(millis({ "retry-after": "2" }), 2000)
    assert.strictEqual(millis({ "retry-after": "Wed, 25 Nov 2026 12:00:07 GMT" }), 7000)
    assert.strictEqual(millis({ "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s" }), 1000)
    assert.strictEqual(millis({}), undefined)
  })
})

describe("ApiRequest.decode", () => {
  it("returns a request it decoded before as it is, and still checks the kind", () => {
    const first = ApiRequest.decode({ model: "m", messages: [{ role: "user", content: "x" }] })
    assert(Either.isRight(first))
    const again = ApiRequest.decode(first.right)
    assert(Either.isRight(again))
    assert.strictEqual(again.right, first.right)
    assert(Either.isLeft(ApiRequest.decode(first.right, "embedding")))
    // a look-alike that did not come from decode is decoded (and validated) in full
    const lookAlike = { _tag: "Chat", request: { model: "", messages: [] } }
    assert(Either.isLeft(ApiRequest.decode(lookAlike)))
  })
})
