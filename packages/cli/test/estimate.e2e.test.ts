import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { run, tempDir, writeLines } from "./fixtures/childProcess.js"

// `fastllm estimate` as a person runs it: a real child process on a fixture file.

const lines = [
  { custom_id: "a", method: "POST", url: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }], max_tokens: 100 } },
  { custom_id: "b", method: "POST", url: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello" }, { role: "assistant", content: "Hi" }, { role: "user", content: "Bye" }], max_tokens: 50 } },
  { custom_id: "c", method: "POST", url: "/v1/embeddings", body: { model: "text-embedding-3-small", input: "hello world" } },
  { custom_id: "d", method: "POST", url: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: [{ role: "wizard", content: "x" }] } }
]

const Totals = Schema.Struct({
  requests: Schema.Number,
  promptTokens: Schema.Number,
  outputTokens: Schema.Number,
  online: Schema.Struct({ usd: Schema.Number, unpricedItems: Schema.Number }),
  batch: Schema.Struct({ usd: Schema.Number, unpricedItems: Schema.Number })
})
const EstimateJson = Schema.parseJson(Schema.Struct({
  items: Schema.Number,
  invalid: Schema.Number,
  cached: Schema.Number,
  toSend: Totals,
  minutes: Schema.optional(Schema.Number)
}))

describe("fastllm estimate", () => {
  it.live("counts tokens with OpenAI's tokenizer, prices online and Batch API, sends nothing, subtracts the cache", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", lines)
      const first = yield* run(["estimate", input, "--json", "--rpm", "2"], { cwd: dir })
      assert.strictEqual(first.code, 0, first.stderr)
      const estimate = Schema.decodeUnknownSync(EstimateJson)(first.stdout)
      assert.strictEqual(estimate.items, 4)
      assert.strictEqual(estimate.invalid, 1)
      assert.strictEqual(estimate.cached, 0)
      assert.strictEqual(estimate.toSend.requests, 3)
      // "Hello": 8 prompt tokens as OpenAI reports them; three messages: 3 + 3×(3 + 1 + 1) = 18;
      // "hello world": 2. Outputs: max_tokens, and none for embeddings.
      assert.strictEqual(estimate.toSend.promptTokens, 8 + 18 + 2)
      assert.strictEqual(estimate.toSend.outputTokens, 150)
      const online = (26 * 0.15 + 150 * 0.6 + 2 * 0.02) / 1e6
      assert.closeTo(estimate.toSend.online.usd, online, 1e-12)
      assert.closeTo(estimate.toSend.batch.usd, online / 2, 1e-12)
      assert.strictEqual(estimate.minutes, 1.5)

      // The text form says the same for people.
      const text = yield* run(["estimate", input, "--batch-api"], { cwd: dir })
      assert.strictEqual(text.code, 0, text.stderr)
      assert.include(text.stdout, "Items: 4 (0 already cached, 1 invalid, 3 to send)")
      assert.match(text.stdout, /Cost Batch API: \$[0-9.]+ {3}<-/)

      // After a run (built-in local server, the default cache), those answers cost nothing more.
      const ran = yield* run(["run", input, "-o", `${dir}/out.jsonl`, "-q"], { cwd: dir })
      assert.strictEqual(ran.code, 1, ran.stderr) // the invalid line fails
      const after = Schema.decodeUnknownSync(EstimateJson)((yield* run(["estimate", input, "--json"], { cwd: dir })).stdout)
      assert.strictEqual(after.cached, 3)
      assert.strictEqual(after.toSend.requests, 0)
      assert.strictEqual(after.toSend.online.usd, 0)
    })), 120_000)

  it.live("unknown models are unknown, --price gives them a price; a bad --price is a usage error", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [{ model: "my-finetune", messages: [{ role: "user", content: "Hi" }], max_tokens: 1000 }])
      const unknown = yield* run(["estimate", input], { cwd: dir })
      assert.include(unknown.stdout, "Cost online:    unknown")
      assert.include(unknown.stdout, "No price for my-finetune")
      const priced = Schema.decodeUnknownSync(EstimateJson)(
        (yield* run(["estimate", input, "--json", "--price", "my-finetune=2,4"], { cwd: dir })).stdout
      )
      assert.closeTo(priced.toSend.online.usd, (priced.toSend.promptTokens * 2 + 1000 * 4) / 1e6, 1e-12)
      const bad = yield* run(["estimate", input, "--price", "my-finetune=cheap"], { cwd: dir })
      assert.strictEqual(bad.code, 2)
      assert.include(bad.stderr, "--price")
    })), 60_000)
})
