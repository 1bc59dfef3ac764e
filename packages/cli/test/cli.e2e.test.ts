import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { readLines, run, start, tempDir, waitUntil, writeLines } from "./fixtures/childProcess.js"

const apiKey = "sk-cli-test"

const OutputLine = Schema.Struct({
  id: Schema.String,
  custom_id: Schema.String,
  response: Schema.NullOr(Schema.Struct({ status_code: Schema.Number, request_id: Schema.String, body: Schema.Unknown })),
  error: Schema.NullOr(Schema.Struct({ code: Schema.String, message: Schema.String }))
})
const decodeOutput = Schema.decodeUnknownSync(Schema.Array(OutputLine))

const ChatBody = Schema.Struct({
  object: Schema.Literal("chat.completion"),
  choices: Schema.NonEmptyArray(Schema.Struct({ message: Schema.Struct({ content: Schema.String }) }))
})
const EmbeddingBody = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.NonEmptyArray(Schema.Struct({ embedding: Schema.Array(Schema.Number) }))
})
const ApiErrorBody = Schema.Struct({ error: Schema.Struct({ message: Schema.String, param: Schema.NullOr(Schema.String) }) })

const Stats = Schema.Struct({
  total: Schema.Number,
  succeeded: Schema.Number,
  failed: Schema.Number,
  cached: Schema.Number,
  apiCalls: Schema.Number
})
const readStats = (file: string) => Schema.decodeUnknownSync(Schema.parseJson(Stats))(fs.readFileSync(file, "utf8"))

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content }],
  max_tokens: 20,
  ...extra
})
const batchLine = (customId: string, url: string, body: unknown) => ({ custom_id: customId, method: "POST", url, body })

describe("fastllm run (child process against the test server)", () => {
  it.scopedLive("writes one Batch output line per input line, in input order, and exits 1 when some fail", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [
        batchLine("chat-1", "/v1/chat/completions", chat("first")),
        chat("a bare body"),
        "{ this is not json",
        "",
        batchLine("too-hot", "/v1/chat/completions", chat("hot", { temperature: 3 })),
        batchLine("embed-1", "/v1/embeddings", { model: "text-embedding-3-small", input: "vectors please" }),
        batchLine("bad-role", "/v1/chat/completions", { model: "gpt-4o-mini", messages: [{ role: "robot", content: "x" }] }),
        batchLine("last", "/v1/chat/completions", chat("last one"))
      ])
      const output = path.join(dir, "out.jsonl")
      const statsFile = path.join(dir, "stats.json")
      const result = yield* run(
        ["run", input, "-o", output, "--base-url", server.url, "--cache", path.join(dir, "cache"), "--stats-json", statsFile],
        { cwd: dir, env: { OPENAI_API_KEY: apiKey } }
      )
      assert.strictEqual(result.code, 1, result.stderr)
      assert.include(result.stderr, "3 of 7 items failed")
      assert.include(result.stderr, "Done: 7 items")
      assert.isFalse(fs.existsSync(`${output}.partial`))

      const lines = decodeOutput(readLines(output))
      assert.deepStrictEqual(lines.map((line) => line.custom_id), ["chat-1", "2", "3", "too-hot", "embed-1", "bad-role", "last"])
      assert.deepStrictEqual(lines.map((line) => line.id), [1, 2, 3, 5, 6, 7, 8].map((n) => `batch_req_${n}`))
      const [first, bare, malformed, hot, embed, badRole, last] = lines
      for (const ok of [first, bare, last]) {
        assert.strictEqual(ok?.response?.status_code, 200)
        assert.strictEqual(ok?.error, null)
        assert.isTrue(Schema.is(ChatBody)(ok?.response?.body))
      }
      assert.include(JSON.stringify(first?.response?.body), "first")
      assert.strictEqual(malformed?.response, null)
      assert.strictEqual(malformed?.error?.code, "invalid_request")
      assert.include(malformed?.error?.message, "line 3 is not valid JSON")
      // An API error is an HTTP answer: OpenAI's Batch output puts it under `response`.
      assert.strictEqual(hot?.response?.status_code, 400)
      assert.strictEqual(hot?.error, null)
      const hotBody = Schema.decodeUnknownSync(ApiErrorBody)(hot?.response?.body)
      assert.strictEqual(hotBody.error.param, "temperature")
      assert.strictEqual(embed?.response?.status_code, 200)
      assert.isTrue(Schema.is(EmbeddingBody)(embed?.response?.body))
      assert.strictEqual(badRole?.error?.code, "invalid_request")
      assert.include(badRole?.error?.message, "body.messages[0].role")

      const stats = readStats(statsFile)
      assert.deepStrictEqual(
        { total: stats.total, succeeded: stats.succeeded, failed: stats.failed, apiCalls: stats.apiCalls },
        { total: 7, succeeded: 4, failed: 3, apiCalls: 5 }
      )
      // The malformed and the schema-invalid lines never reached the server.
      const seen = yield* server.stats
      assert.strictEqual(seen.byPath["/v1/chat/completions"], 4)
      assert.strictEqual(seen.byPath["/v1/embeddings"], 1)
    }), 60_000)

  it.scopedLive("exits 0 when every item succeeds, and 2 on usage or configuration errors", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey })
      const broke = yield* TestServer.make({ apiKey, insufficientQuota: true })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [chat("one"), chat("two")])
      const env = { OPENAI_API_KEY: apiKey }
      const [ok, quota, missing, zero, unknownFlag, badTimeout, noDir] = yield* Effect.all([
        run(["run", input, "-o", path.join(dir, "out.jsonl"), "--base-url", server.url, "--no-cache", "-q", "--model", "gpt-4o"], {
          cwd: dir,
          env
        }),
        run(["run", input, "--base-url", broke.url, "--no-cache"], { cwd: dir, env }),
        run(["run", path.join(dir, "missing.jsonl"), "--base-url", server.url], { cwd: dir, env }),
        run(["run", input, "--concurrency", "0", "--base-url", server.url], { cwd: dir, env }),
        run(["run", input, "--frobnicate"], { cwd: dir, env }),
        run(["run", input, "--timeout", "soon", "--base-url", server.url], { cwd: dir, env }),
        run(["run", input, "-o", path.join(dir, "no", "such", "dir", "out.jsonl"), "--base-url", server.url], {
          cwd: dir,
          env
        })
      ], { concurrency: "unbounded" })
      assert.strictEqual(ok.code, 0, ok.stderr)
      assert.strictEqual(ok.stderr, "", "--quiet prints nothing on success")
      const okLines = decodeOutput(readLines(path.join(dir, "out.jsonl")))
      assert.deepStrictEqual(
        okLines.map((line) => Schema.decodeUnknownSync(Schema.Struct({ model: Schema.String }))(line.response?.body).model),
        ["gpt-4o", "gpt-4o"],
        "--model replaces every request's model"
      )
      // Out of quota: every item fails at once (no retry), with the reason on its line; exit 1.
      assert.strictEqual(quota.code, 1, quota.stderr)
      const quotaLines = decodeOutput(quota.stdout.trim().split("\n").map((line): unknown => JSON.parse(line)))
      assert.deepStrictEqual(quotaLines.map((line) => line.error?.code), ["insufficient_quota", "insufficient_quota"])
      assert.include(quota.stderr, "InsufficientQuota 2")
      assert.strictEqual((yield* broke.stats).requests, 2)
      assert.strictEqual(missing.code, 2)
      assert.include(missing.stderr, "Cannot read input")
      assert.strictEqual(zero.code, 2)
      assert.include(zero.stderr, "--concurrency must be at least 1")
      assert.strictEqual(unknownFlag.code, 2)
      assert.include(unknownFlag.stderr, "--frobnicate")
      assert.strictEqual(badTimeout.code, 2)
      assert.include(badTimeout.stderr, "is not a duration")
      assert.strictEqual(noDir.code, 2)
      assert.include(noDir.stderr, "Cannot write output")
      // None of the failed starts sent anything.
      assert.strictEqual((yield* server.stats).byPath["/v1/chat/completions"], 2)
    }), 60_000)

  it.scopedLive("resumes after SIGKILL: the rerun sends only the items the first run did not answer", () =>
    Effect.gen(function*() {
      const total = 150 // at 4 in flight and 40 ms each, about 1.5 s: killed well before the end
      const server = yield* TestServer.make({ apiKey, latency: { minMs: 40 } })
      const dir = yield* tempDir
      const input = writeLines(
        dir,
        "in.jsonl",
        Array.from({ length: total }, (_, i) => batchLine(`item-${i}`, "/v1/chat/completions", chat(`question ${i}`)))
      )
      const output = path.join(dir, "out.jsonl")
      const statsFile = path.join(dir, "stats.json")
      const args = [
        "run",
        input,
        "-o",
        output,
        "--base-url",
        server.url,
        "--cache",
        path.join(dir, "cache"),
        "--concurrency",
        "4",
        "--stats-json",
        statsFile
      ]
      const env = { OPENAI_API_KEY: apiKey }

      const first = yield* start(args, { cwd: dir, env })
      const partialLines = () =>
        fs.existsSync(`${output}.partial`) ? fs.readFileSync(`${output}.partial`, "utf8").split("\n").length - 1 : 0
      yield* waitUntil(() => partialLines() >= 20)
      first.child.kill("SIGKILL")
      const killed = yield* first.finished
      assert.strictEqual(killed.signal, "SIGKILL")
      const answeredBefore = partialLines()
      assert.isBelow(answeredBefore, total, "killed before the end")
      assert.isFalse(fs.existsSync(output), "no output under the final name after a crash")

      yield* server.reset
      const second = yield* run([...args, "--progress", "log", "--progress-interval", "100ms"], { cwd: dir, env })
      assert.strictEqual(second.code, 0, second.stderr)
      // Not a terminal: progress comes as log lines.
      const progressLines = second.stderr.split("\n").filter((line) => /^fastllm: \d+\/150 \| cached \d+ \|.*ETA/.test(line))
      assert.isAtLeast(progressLines.length, 2, second.stderr)
      const lines = decodeOutput(readLines(output))
      assert.deepStrictEqual(lines.map((line) => line.custom_id), Array.from({ length: total }, (_, i) => `item-${i}`))
      assert.isTrue(lines.every((line) => line.response?.status_code === 200))
      const stats = readStats(statsFile)
      const seen = yield* server.stats
      // Every line written before the kill was cached first; the server saw exactly the rest.
      assert.isAtLeast(stats.cached, answeredBefore)
      assert.strictEqual(seen.requests, total - stats.cached)
      assert.strictEqual(stats.apiCalls, total - stats.cached)
      assert.isBelow(seen.requests, total)
    }), 60_000)

  it.scopedLive("with no API key and no base URL it runs on the built-in server and says so", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [
        chat("hello"),
        batchLine("e", "/v1/embeddings", { model: "text-embedding-3-small", input: ["a", "b"] })
      ])
      const result = yield* run(["run", input, "-o", "out.jsonl"], { cwd: dir })
      assert.strictEqual(result.code, 0, result.stderr)
      assert.match(result.stderr, /built-in local test server at http:\/\/127\.0\.0\.1:\d+\/v1/)
      assert.strictEqual(result.stderr.split("\n").filter((line) => line.includes("built-in")).length, 1)
      const lines = decodeOutput(readLines(path.join(dir, "out.jsonl")))
      assert.deepStrictEqual(lines.map((line) => line.response?.status_code), [200, 200])
      assert.isTrue(fs.existsSync(path.join(dir, ".fastllm-cache")), "the default cache is ./.fastllm-cache")
    }), 60_000)
})

describe("fastllm mock-server", () => {
  it.scopedLive("serves the OpenAI-compatible test server until stopped", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const server = yield* start(["mock-server", "--port", "0", "--api-key", apiKey], { cwd: dir })
      yield* waitUntil(() => server.stdout().includes("\n"))
      const { url } = Schema.decodeUnknownSync(Schema.parseJson(Schema.Struct({ url: Schema.String })))(
        server.stdout().split("\n")[0]
      )
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/)
      const response = yield* Effect.promise(() =>
        fetch(`${url}/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${apiKey}` },
          body: JSON.stringify(chat("ping"))
        })
      )
      assert.strictEqual(response.status, 200)
      assert.isTrue(Schema.is(ChatBody)(yield* Effect.promise(() => response.json())))
      server.child.kill("SIGTERM")
      const finished = yield* server.finished
      assert.strictEqual(finished.code, 130, "stopped by a signal: exit 130")
    }), 60_000)
})
