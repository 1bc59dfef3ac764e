import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { readLines, run, tempDir, writeLines } from "./fixtures/childProcess.js"

const OutputLine = Schema.Struct({
  custom_id: Schema.String,
  response: Schema.NullOr(Schema.Struct({ status_code: Schema.Number, body: Schema.Unknown })),
  error: Schema.NullOr(Schema.Struct({ code: Schema.String, message: Schema.String }))
})
const decodeOutput = Schema.decodeUnknownSync(Schema.Array(OutputLine))

// What a valid line's answer must be (the schema file below, as an Effect Schema).
const Answer = Schema.parseJson(Schema.Struct({
  label: Schema.Literal("positive", "negative", "neutral"),
  confidence: Schema.Number.pipe(Schema.between(0, 1)),
  note: Schema.optional(Schema.String)
}))
const decodeBody = Schema.decodeUnknownEither(
  Schema.Struct({ choices: Schema.Tuple(Schema.Struct({ message: Schema.Struct({ content: Answer }) })) })
)

const schemaFile = {
  type: "object",
  properties: {
    label: { type: "string", enum: ["positive", "negative", "neutral"] },
    confidence: { type: "number", minimum: 0, maximum: 1 },
    note: { type: "string" }
  },
  required: ["label", "confidence"],
  additionalProperties: false
}

const line = (customId: string, body: Record<string, unknown>) => ({
  custom_id: customId,
  method: "POST",
  url: "/v1/chat/completions",
  body: { model: "gpt-4o-mini", ...body }
})
const ask = (text: string) => ({ messages: [{ role: "user", content: text }] })

describe("fastllm run --response-schema (child process against the test server)", () => {
  it.scopedLive("sets the schema, validates with ajv, repairs, writes invalid_output lines, and a rerun calls nothing", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { seed: 5, invalidOutput: 0.5 } })
      const dir = yield* tempDir
      fs.writeFileSync(path.join(dir, "sentiment.json"), JSON.stringify(schemaFile))
      const input = writeLines(dir, "in.jsonl", [
        ...Array.from({ length: 40 }, (_, i) => line(`r${i}`, ask(`review ${i}`))),
        // its own response_format is kept: the server echoes, which never validates
        line("own-format", { ...ask("echo me"), response_format: { type: "json_object" } }),
        { custom_id: "embed", method: "POST", url: "/v1/embeddings", body: { model: "e", input: "x" } }
      ])
      const output = path.join(dir, "out.jsonl")
      const args = ["run", input, "-o", output, "--base-url", server.url, "--cache", path.join(dir, "cache")]
      const first = yield* run([...args, "--response-schema", path.join(dir, "sentiment.json")], { cwd: dir })
      assert.strictEqual(first.code, 1, first.stderr)

      const lines = decodeOutput(readLines(output))
      assert.deepStrictEqual(lines.map((l) => l.custom_id), [...Array.from({ length: 40 }, (_, i) => `r${i}`), "own-format", "embed"])
      const valid = lines.filter((l) => l.response?.status_code === 200)
      const invalid = lines.filter((l) => l.error?.code === "invalid_output")
      for (const l of valid) assert.isTrue(Either.isRight(decodeBody(l.response?.body)), JSON.stringify(l.response?.body))
      for (const l of invalid) {
        assert.strictEqual(l.response, null)
        assert.match(l.error?.message ?? "", /after 3 attempts: /)
        assert.include(l.error?.message ?? "", "Last answer: ")
      }
      assert.strictEqual(valid.length + invalid.length, 41)
      assert.isAbove(valid.length, 25)
      assert.isAtLeast(invalid.length, 2, "half the answers are bad: some stay bad after 2 repairs")
      assert.include(lines.find((l) => l.custom_id === "own-format")?.error?.message ?? "", "not valid JSON")
      assert.strictEqual(lines.find((l) => l.custom_id === "embed")?.error?.code, "invalid_request")

      const summary = /--response-schema: (\d+) repair requests?, (\d+) answers? valid after a repair, (\d+) invalid_output, 0 refusals/
        .exec(first.stderr)
      assert.isNotNull(summary, first.stderr)
      assert.strictEqual(Number(summary![3]), invalid.length)
      const seen = yield* server.stats
      // The 40 json_schema items: every answer ajv rejected was a bad one from the server (which also
      // counts answers missing `note`: required in strict mode, optional in the file, so accepted).
      // "own-format" (json_object, not a structured request for the server) made 2 repairs.
      assert.isAtLeast(seen.structuredAnswers.invalid, Number(summary![1]) - 2 + invalid.length - 1)
      assert.strictEqual(seen.structuredAnswers.valid + seen.structuredAnswers.invalid, 40 + Number(summary![1]) - 2)
      assert.strictEqual(seen.byPath["/v1/chat/completions"], 41 + Number(summary![1]))

      yield* server.reset
      const again = yield* run([...args, "--response-schema", path.join(dir, "sentiment.json")], { cwd: dir })
      assert.strictEqual(again.code, 1, again.stderr)
      assert.strictEqual((yield* server.stats).requests, 0, "every ask and repair came from the cache")
      assert.deepStrictEqual(decodeOutput(readLines(output)), lines)
    }), 120_000)

  it.scopedLive("a schema strict mode cannot express, or that is not JSON, stops the run before any request (exit 2)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({})
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [line("a", ask("hello"))])
      fs.writeFileSync(
        path.join(dir, "record.json"),
        JSON.stringify({ type: "object", properties: { scores: { type: "object", additionalProperties: { type: "number" } } } })
      )
      fs.writeFileSync(path.join(dir, "broken.json"), "{ not json")
      const args = ["run", input, "--base-url", server.url, "--no-cache", "--response-schema"]
      const record = yield* run([...args, path.join(dir, "record.json")], { cwd: dir })
      assert.strictEqual(record.code, 2, record.stderr)
      assert.include(record.stderr, "arbitrary keys")
      assert.include(record.stderr, "/properties/scores")
      const broken = yield* run([...args, path.join(dir, "broken.json")], { cwd: dir })
      assert.strictEqual(broken.code, 2, broken.stderr)
      assert.include(broken.stderr, "not JSON")
      assert.strictEqual((yield* server.stats).requests, 0)
    }), 60_000)
})
