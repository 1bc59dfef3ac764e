import { assert, describe, it } from "@effect/vitest"
import { ApiRequest, type ChatRequest, RequestKey } from "@fastllm/core"

const base: ChatRequest.ChatRequestInput = {
  model: "gpt-4o-mini",
  messages: [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Describe the picture." }
  ]
}

const keyOf = (request: ChatRequest.ChatRequestInput, provider = "openai") => {
  const decoded = ApiRequest.decode(request, "chat")
  assert(decoded._tag === "Right", "test request must decode")
  return RequestKey.make(provider, decoded.right)
}

describe("RequestKey", () => {
  it("has a versioned, fixed format", () => {
    assert.match(keyOf(base), /^v1:[0-9a-f]{64}$/)
  })

  it("is a known value for a known request (the format never drifts silently)", () => {
    // sha256 of {"body":{"messages":[{"content":"hi","role":"user"}],"model":"m"},"kind":"Chat","provider":"p"}
    assert.strictEqual(
      keyOf({ model: "m", messages: [{ role: "user", content: "hi" }] }, "p"),
      "v1:3ca6888ab4d34fb377874302bb683a9770c79719af5d767a38fbfaeb7a266415"
    )
  })

  it("is stable under property order at every depth", () => {
    const reordered: ChatRequest.ChatRequestInput = {
      messages: [
        { content: "Be brief.", role: "system" },
        { content: "Describe the picture.", role: "user" }
      ],
      model: "gpt-4o-mini"
    }
    assert.strictEqual(keyOf(base), keyOf(reordered))
    assert.strictEqual(
      keyOf({ ...base, response_format: { type: "json_schema", json_schema: { name: "x", schema: { a: 1, b: 2 } } } }),
      keyOf({ ...base, response_format: { json_schema: { schema: { b: 2, a: 1 }, name: "x" }, type: "json_schema" } })
    )
  })

  it("changes with every field that can change the answer", () => {
    const variants: Record<string, ChatRequest.ChatRequestInput> = {
      model: { ...base, model: "gpt-4o" },
      message: { ...base, messages: [{ role: "user", content: "Describe the picture!" }] },
      role: { ...base, messages: [{ role: "developer", content: "Be brief." }, { role: "user", content: "Describe the picture." }] },
      image: {
        ...base,
        messages: [{
          role: "user",
          content: [{ type: "text", text: "Describe the picture." }, { type: "image_url", image_url: { url: "https://example.com/a.png" } }]
        }]
      },
      image2: {
        ...base,
        messages: [{
          role: "user",
          content: [{ type: "text", text: "Describe the picture." }, { type: "image_url", image_url: { url: "https://example.com/b.png" } }]
        }]
      },
      imageDetail: {
        ...base,
        messages: [{
          role: "user",
          content: [{ type: "text", text: "Describe the picture." }, {
            type: "image_url",
            image_url: { url: "https://example.com/a.png", detail: "high" }
          }]
        }]
      },
      tools: { ...base, tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }] },
      toolChoice: { ...base, tool_choice: "required" },
      responseFormat: { ...base, response_format: { type: "json_object" } },
      seed: { ...base, seed: 42 },
      temperature: { ...base, temperature: 0 },
      temperature2: { ...base, temperature: 0.7 },
      topP: { ...base, top_p: 0.5 },
      n: { ...base, n: 2 },
      stop: { ...base, stop: ["\n"] },
      maxTokens: { ...base, max_tokens: 10 },
      maxCompletionTokens: { ...base, max_completion_tokens: 10 },
      logitBias: { ...base, logit_bias: { "50256": -100 } },
      reasoningEffort: { ...base, reasoning_effort: "high" },
      unknownField: { ...base, top_k: 20 }
    }
    const keys = new Map<string, string>([["base", keyOf(base)]])
    for (const [name, request] of Object.entries(variants)) {
      const key = keyOf(request)
      for (const [other, otherKey] of keys) assert.notStrictEqual(key, otherKey, `${name} collides with ${other}`)
      keys.set(name, key)
    }
  })

  it("depends on the provider and the kind", () => {
    assert.notStrictEqual(keyOf(base, "openai"), keyOf(base, "openrouter"))
    const chatLike = ApiRequest.chat({ model: "m", messages: [{ role: "user", content: "x" }] })
    const embeddingLike = ApiRequest.embedding({ model: "m", input: "x", messages: [{ role: "user", content: "x" }] })
    assert.notStrictEqual(RequestKey.make("p", chatLike), RequestKey.make("p", embeddingLike))
  })

  it("ignores delivery-only fields (stream flags)", () => {
    assert.strictEqual(keyOf(base), keyOf({ ...base, stream: false }))
    assert.strictEqual(keyOf(base), keyOf({ ...base, stream_options: { include_usage: true } }))
  })

  it("cannot see secrets or transport settings: they are not part of a request", () => {
    // API keys, headers and timeouts live in the provider's options, never in the request body.
    // A request that smuggles them in as unknown fields changes the key, but the key is a hash:
    // the secret itself never appears in it.
    const secret = "sk-test-SECRET-1234567890"
    const key = keyOf({ ...base, api_key: secret } as ChatRequest.ChatRequestInput)
    assert.notInclude(key, secret)
    assert.notInclude(key, "SECRET")
  })

  it("canonicalJson sorts keys recursively and drops undefined", () => {
    assert.strictEqual(
      RequestKey.canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: undefined }, z: null }),
      `{"a":{"d":[3,{"e":2,"f":1}]},"b":1,"z":null}`
    )
  })
})
