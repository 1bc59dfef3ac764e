import { assert, describe, it } from "@effect/vitest"
import { ApiRequest, ChatRequest, RequestKey } from "@fastllm/core"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import { setAt } from "./fixtures/jsonPaths.js"

const schemaDecode = Schema.decodeUnknownEither(ChatRequest.ChatRequest)
const valid = Arbitrary.make(ChatRequest.ChatRequest)

/** The request key exactly as it was computed before the one-pass version (RequestKey.ts). */
const referenceCanonical = (value: unknown): string => {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null"
  if (Array.isArray(value)) return `[${value.map((item) => item === undefined ? "null" : referenceCanonical(item)).join(",")}]`
  const record = value as Readonly<Record<string, unknown>>
  const parts: Array<string> = []
  for (const key of Object.keys(record).sort()) {
    const item = record[key]
    if (item === undefined || typeof item === "function") continue
    parts.push(`${JSON.stringify(key)}:${referenceCanonical(item)}`)
  }
  return `{${parts.join(",")}}`
}
const referenceKey = (provider: string, request: ApiRequest.ApiRequest): string => {
  const body: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(request.request)) {
    if (!RequestKey.transportFields.includes(field)) body[field] = value
  }
  return `v1:${createHash("sha256").update(referenceCanonical({ provider, kind: request._tag, body })).digest("hex")}`
}

const paths: ReadonlyArray<ReadonlyArray<string | number>> = [
  ["model"],
  ["messages"],
  ["messages", 0],
  ["messages", 0, "role"],
  ["messages", 0, "content"],
  ["messages", 0, "content", 0],
  ["messages", 0, "content", 0, "type"],
  ["messages", 0, "content", 0, "text"],
  ["messages", 0, "content", 0, "image_url"],
  ["messages", 0, "content", 0, "image_url", "url"],
  ["messages", 0, "content", 0, "input_audio", "format"],
  ["messages", 0, "content", 0, "file", "file_id"],
  ["messages", 0, "name"],
  ["messages", 0, "tool_call_id"],
  ["messages", 0, "refusal"],
  ["messages", 0, "tool_calls"],
  ["messages", 0, "tool_calls", 0, "function", "arguments"],
  ["frequency_penalty"],
  ["logit_bias"],
  ["logit_bias", "50256"],
  ["logprobs"],
  ["top_logprobs"],
  ["max_tokens"],
  ["max_completion_tokens"],
  ["n"],
  ["seed"],
  ["stop"],
  ["stop", 0],
  ["temperature"],
  ["response_format"],
  ["response_format", "type"],
  ["tools"],
  ["tools", 0, "function"],
  ["tools", 0, "function", "strict"],
  ["tool_choice"],
  ["tool_choice", "type"],
  ["parallel_tool_calls"],
  ["functions"],
  ["user"],
  ["store"],
  ["metadata"],
  ["metadata", "k"],
  ["stream"],
  ["service_tier"],
  ["modalities"],
  ["prompt_cache_key"]
]
const replacements: ReadonlyArray<unknown> = [null, 0, -1, 1.5, 3, "", "x", "text", "refusal", "image_url", [], [1], {}, true]

const roles = ["system", "developer", "user", "assistant", "tool", "function", "other"]
const parts = [
  { type: "text", text: "a" },
  { type: "image_url", image_url: { url: "https://x/y.png", detail: "low" } },
  { type: "input_audio", input_audio: { data: "AAAA", format: "wav" } },
  { type: "file", file: { file_id: "f" } },
  { type: "refusal", refusal: "no" },
  { type: "video_url", video_url: { url: "v" } }
]

describe("ChatRequest guard (ApiRequest.decode's fast path)", () => {
  it("accepts what the schema accepts and returns the input itself, unknown fields kept", () => {
    let asIs = 0
    let accepted = 0
    FastCheck.assert(
      FastCheck.property(valid, (request) => {
        const json: unknown = JSON.parse(JSON.stringify({ ...request, x_vendor: { kept: [1, 2] } }))
        const fast = ApiRequest.decode(json, "chat")
        const slow = schemaDecode(json)
        assert.strictEqual(fast._tag, slow._tag)
        if (Either.isRight(fast) && Either.isRight(slow)) {
          accepted++
          // the input itself, unless the guard left an odd one (an own "__proto__" key) to the schema
          if (fast.right.request === json) asIs++
          assert.deepStrictEqual(fast.right.request, slow.right)
        }
      }),
      { numRuns: 200 }
    )
    assert.isAbove(asIs, accepted * 0.9)
  }, 60_000)

  it("rejects what the schema rejects, with the schema's error", () => {
    FastCheck.assert(
      FastCheck.property(
        valid,
        FastCheck.constantFrom(...paths),
        FastCheck.constantFrom(...replacements),
        (request, path, replacement) => {
          const json = setAt(request, path, replacement)
          const fast = ApiRequest.decode(json, "chat")
          const slow = schemaDecode(json)
          assert.strictEqual(fast._tag, slow._tag, JSON.stringify(json))
          if (Either.isLeft(fast) && Either.isLeft(slow)) {
            assert.deepStrictEqual(fast.left, ApiRequest.invalidRequestFromParseError(slow.left))
          }
          if (Either.isRight(fast) && Either.isRight(slow)) assert.deepStrictEqual(fast.right.request, slow.right)
        }
      ),
      { numRuns: 600 }
    )
  }, 60_000)

  it("agrees with the schema on every role and content part", () => {
    for (const role of roles) {
      for (const content of ["hi", null, [], ...parts.map((part) => [part])]) {
        for (const extra of [{}, { name: "n" }, { tool_call_id: "t" }, { name: "n", tool_call_id: "t" }, { refusal: 1 }]) {
          const json = { model: "m", messages: [{ role, content, ...extra }] }
          const fast = ApiRequest.decode(json, "chat")
          assert.strictEqual(fast._tag, schemaDecode(json)._tag, JSON.stringify(json))
        }
      }
    }
  })

  it("sends odd values (class instances, arrays where objects go) to the schema", () => {
    class Body {
      readonly model = "m"
      readonly messages = [{ role: "user", content: "hi" }] as const
    }
    const instance = new Body()
    const fast = ApiRequest.decode(instance, "chat")
    assert.isTrue(Either.isRight(fast))
    if (Either.isRight(fast)) assert.notStrictEqual<unknown>(fast.right.request, instance)
    const arrays = { model: "m", messages: [{ role: "user", content: [{ type: "file", file: [] }] }] }
    assert.strictEqual(ApiRequest.decode(arrays, "chat")._tag, schemaDecode(arrays)._tag)
  })
})

describe("RequestKey.make (one pass, one-shot SHA-256)", () => {
  it("gives the key it always gave", () => {
    FastCheck.assert(
      FastCheck.property(valid, FastCheck.string(), (request, provider) => {
        const decoded = ApiRequest.chat(request)
        assert.strictEqual(RequestKey.make(provider, decoded), referenceKey(provider, decoded))
      }),
      { numRuns: 300 }
    )
  }, 60_000)

  it("canonicalJson is what it always was, sparse arrays and odd leaves included", () => {
    const sparse: Array<unknown> = [1]
    sparse[3] = { b: undefined, a: () => 1, c: Symbol("s") }
    const values: ReadonlyArray<unknown> = [sparse, { "é": 1, "\u0000": [null, undefined, NaN, -0] }, [], {}, "x", 1e21]
    for (const value of values) assert.strictEqual(RequestKey.canonicalJson(value), referenceCanonical(value))
    FastCheck.assert(
      FastCheck.property(FastCheck.jsonValue(), (value) => {
        assert.strictEqual(RequestKey.canonicalJson(value), referenceCanonical(value))
      }),
      { numRuns: 300 }
    )
  })
})
