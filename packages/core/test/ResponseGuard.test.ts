import { assert, describe, it } from "@effect/vitest"
import { ChatResponse } from "@fastllm/core"
import * as Arbitrary from "effect/Arbitrary"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Schema from "effect/Schema"
import { setAt } from "./fixtures/jsonPaths.js"

const schemaDecode = Schema.decodeUnknownEither(ChatResponse.ChatResponse)
const valid = Arbitrary.make(ChatResponse.ChatResponse)

const paths: ReadonlyArray<ReadonlyArray<string | number>> = [
  ["id"],
  ["model"],
  ["object"],
  ["created"],
  ["choices"],
  ["choices", 0],
  ["choices", 0, "index"],
  ["choices", 0, "message"],
  ["choices", 0, "message", "content"],
  ["choices", 0, "message", "role"],
  ["choices", 0, "message", "tool_calls"],
  ["choices", 0, "message", "tool_calls", 0, "function", "arguments"],
  ["choices", 0, "finish_reason"],
  ["usage"],
  ["usage", "prompt_tokens"],
  ["usage", "completion_tokens"],
  ["usage", "prompt_tokens_details", "cached_tokens"],
  ["usage", "completion_tokens_details", "reasoning_tokens"],
  ["system_fingerprint"],
  ["service_tier"]
]
const replacements: ReadonlyArray<unknown> = [null, 1, "x", [], {}, true]

describe("ChatResponse.decodeUnknownEither (the guarded decode)", () => {
  it("accepts what the schema accepts, returns the value itself, unknown fields kept", () => {
    FastCheck.assert(
      FastCheck.property(valid, (response) => {
        const json: unknown = JSON.parse(JSON.stringify({ ...response, x_vendor: { kept: [1, 2] } }))
        const fast = ChatResponse.decodeUnknownEither(json)
        const slow = schemaDecode(json)
        // (a generated number such as -Infinity becomes null in JSON: both reject it then)
        assert.strictEqual(fast._tag, slow._tag)
        if (Either.isRight(fast) && Either.isRight(slow)) {
          assert.strictEqual(fast.right, json)
          assert.deepStrictEqual(fast.right, slow.right)
        }
      }),
      { numRuns: 100 }
    )
  })

  it("rejects what the schema rejects, with the schema's error", () => {
    FastCheck.assert(
      FastCheck.property(
        valid,
        FastCheck.constantFrom(...paths),
        FastCheck.constantFrom(...replacements),
        (response, path, replacement) => {
          const json = setAt(response, path, replacement)
          const fast = ChatResponse.decodeUnknownEither(json)
          const slow = schemaDecode(json)
          assert.strictEqual(fast._tag, slow._tag)
          if (Either.isLeft(fast) && Either.isLeft(slow)) assert.strictEqual(fast.left.message, slow.left.message)
          if (Either.isRight(fast) && Either.isRight(slow)) assert.deepStrictEqual(fast.right, slow.right)
        }
      ),
      { numRuns: 200 }
    )
  })

  it("names the offending field of a bad reply", () => {
    const decoded = ChatResponse.decodeUnknownEither({ id: "x", model: "m", choices: [{ index: 0, message: { content: 7 } }] })
    assert.isTrue(Either.isLeft(decoded))
    if (Either.isLeft(decoded)) assert.include(decoded.left.message, "content")
  })
})
