import { LLMError } from "@fastllm/core"
import type { RequestManager } from "@fastllm/core"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as BatchLine from "../src/BatchLine.js"

const chatBody = { model: "m", messages: [{ role: "user", content: "hi" }] }

const success: RequestManager.ItemResult = {
  _tag: "Success",
  kind: "chat",
  index: 0,
  key: "k",
  attempts: 1,
  fromCache: false,
  deduplicated: false,
  tokens: { promptTokens: 1, completionTokens: 1, totalTokens: 2, cachedTokens: 0, reasoningTokens: 0 },
  response: {
    id: "r",
    model: "m",
    choices: [{ index: 0, message: { role: "assistant", content: "hello" }, finish_reason: "stop" }],
    extra_field: "kept"
  } as RequestManager.ChatSuccess["response"]
}

const failure = (error: LLMError.ProviderError): RequestManager.ItemResult => ({
  _tag: "Failure",
  kind: "chat",
  index: 0,
  key: "k",
  attempts: 1,
  error
})

describe("BatchLine.parse", () => {
  it("reads a Batch API line, tagged by its url", () => {
    const parsed = BatchLine.parse(
      JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/embeddings", body: { model: "e", input: "x" } }),
      1
    )
    assert.strictEqual(parsed._tag, "Request")
    assert.strictEqual(parsed.customId, "a")
    assert.deepStrictEqual(parsed._tag === "Request" && parsed.input, {
      _tag: "Embedding",
      request: { model: "e", input: "x" }
    })
  })

  it("takes a bare body with the line number as custom_id, and overrides the model", () => {
    const parsed = BatchLine.parse(JSON.stringify(chatBody), 7, { model: "other" })
    assert.strictEqual(parsed.customId, "7")
    assert.deepStrictEqual(parsed._tag === "Request" && parsed.input, { ...chatBody, model: "other" })
  })

  it("reports bad JSON, a bad envelope field, a bad method and an unknown url", () => {
    const bad = BatchLine.parse("{nope", 3)
    assert.strictEqual(bad._tag, "Invalid")
    assert.include(bad._tag === "Invalid" ? bad.error.message : "", "line 3 is not valid JSON")
    const noId = BatchLine.parse(JSON.stringify({ custom_id: 5, url: "/v1/chat/completions", body: chatBody }), 4)
    assert.strictEqual(noId._tag === "Invalid" && noId.error.path, "custom_id")
    const get = BatchLine.parse(
      JSON.stringify({ custom_id: "g", method: "GET", url: "/v1/chat/completions", body: chatBody }),
      5
    )
    assert.strictEqual(get._tag === "Invalid" && get.error.path, "method")
    const url = BatchLine.parse(JSON.stringify({ custom_id: "u", url: "/v1/completions", body: chatBody }), 6)
    assert.strictEqual(url._tag === "Invalid" && url.error.path, "url")
    assert.strictEqual(url.customId, "u")
  })

  it("knows the endpoints with and without /v1", () => {
    assert.strictEqual(BatchLine.kindOfUrl("/v1/chat/completions"), "chat")
    assert.strictEqual(BatchLine.kindOfUrl("/chat/completions?x=1"), "chat")
    assert.strictEqual(BatchLine.kindOfUrl("v1/embeddings"), "embedding")
    assert.strictEqual(BatchLine.kindOfUrl("/v1/responses"), undefined)
  })
})

describe("BatchLine.toOutput", () => {
  const parsed = BatchLine.parse(JSON.stringify({ custom_id: "c", url: "/v1/chat/completions", body: chatBody }), 2)

  it("puts a success under response with status 200, keeping unknown fields", () => {
    const line = BatchLine.toOutput(parsed, success)
    assert.strictEqual(line.custom_id, "c")
    assert.strictEqual(line.id, "batch_req_2")
    assert.strictEqual(line.error, null)
    assert.strictEqual(line.response?.status_code, 200)
    assert.deepInclude(line.response?.body, { extra_field: "kept" })
    assert.isFalse(BatchLine.isFailure(line))
  })

  it("puts an API error under response with its status and OpenAI's error object", () => {
    const line = BatchLine.toOutput(
      parsed,
      failure(new LLMError.ApiError({ status: 400, detail: "no such model", code: "model_not_found", retryable: false }))
    )
    assert.deepStrictEqual(line.response, {
      status_code: 400,
      request_id: "req_2",
      body: { error: { message: "no such model", type: null, param: null, code: "model_not_found" } }
    })
    assert.strictEqual(line.error, null)
    assert.isTrue(BatchLine.isFailure(line))
  })

  it("puts other failures under error with a code, schema paths under body.", () => {
    const invalid = BatchLine.toOutput(
      parsed,
      failure(new LLMError.InvalidRequestError({ reason: "bad role", path: "messages[0].role" }))
    )
    assert.deepStrictEqual(invalid.error, {
      code: "invalid_request",
      message: "Invalid request at body.messages[0].role: bad role"
    })
    const quota = BatchLine.toOutput(parsed, failure(new LLMError.RateLimitError({ kind: "quota" })))
    assert.strictEqual(quota.error?.code, "insufficient_quota")
    const limited = BatchLine.toOutput(parsed, failure(new LLMError.RateLimitError({ kind: "requests" })))
    assert.strictEqual(limited.error?.code, "rate_limit_exceeded")
    const timeout = BatchLine.toOutput(parsed, failure(new LLMError.TimeoutError({ timeout: Duration.seconds(1) })))
    assert.strictEqual(timeout.error?.code, "timeout")
  })
})
