import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { readLines, run, start, tempDir, waitUntil, writeLines } from "./fixtures/childProcess.js"

// `fastllm run --batch-api` and `fastllm batches` as child processes against the test server's
// Files and Batch API (in this process, over real HTTP), on the server's fast clock.

const apiKey = "sk-batch-cli-test"

const OutputLine = Schema.Struct({
  id: Schema.String,
  custom_id: Schema.String,
  response: Schema.NullOr(Schema.Struct({ status_code: Schema.Number, request_id: Schema.String, body: Schema.Unknown })),
  error: Schema.NullOr(Schema.Struct({ code: Schema.String, message: Schema.String }))
})
const decodeOutput = Schema.decodeUnknownSync(Schema.Array(OutputLine))
const ChatBody = Schema.Struct({
  choices: Schema.NonEmptyArray(Schema.Struct({ message: Schema.Struct({ content: Schema.String }) }))
})
const contentOf = (line: typeof OutputLine.Type) => Schema.decodeUnknownSync(ChatBody)(line.response?.body).choices[0].message.content

const chat = (content: string, extra: Record<string, unknown> = {}) => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content }],
  ...extra
})
const batchLine = (customId: string, body: unknown, url = "/v1/chat/completions") => ({
  custom_id: customId,
  method: "POST",
  url,
  body
})
const questions = (n: number) => Array.from({ length: n }, (_, i) => batchLine(`q${i}`, chat(`question ${i}`)))

const serverWith = (batch: TestServer.BatchOptions) => TestServer.make({ apiKey, batch })
const envOf = (server: TestServer.TestServer) => ({ OPENAI_API_KEY: apiKey, OPENAI_BASE_URL: server.url })
const fast = ["--batch-api", "--poll-interval", "20ms", "--progress", "log", "--progress-interval", "100ms"]
const ledgerText = (dir: string) => {
  const root = path.join(dir, ".fastllm-cache", "batch-jobs")
  if (!fs.existsSync(root)) return ""
  return fs.readdirSync(root).map((job) => {
    const file = path.join(root, job, "ledger.jsonl")
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : ""
  }).join("")
}

describe("fastllm run --batch-api (child process, real HTTP)", () => {
  it.scopedLive("writes OUTPUT complete and in input order, as an online run does; bad lines never uploaded", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ linesPerSecond: 2_000 })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [
        ...questions(120),
        "{ not json",
        batchLine("bad-role", { model: "gpt-4o-mini", messages: [{ role: "robot", content: "x" }] }),
        batchLine("embed", { model: "text-embedding-3-small", input: "vectors" }, "/v1/embeddings"),
        batchLine("other-model", chat("another model", { model: "gpt-4o" }))
      ])
      const done = yield* run(["run", input, "-o", "out.jsonl", ...fast, "--batch-size", "50"], { cwd: dir, env: envOf(server) })
      assert.strictEqual(done.code, 1, done.stderr)
      assert.include(done.stderr, "line 121:")
      assert.include(done.stderr, "line 122:")
      assert.match(done.stderr, /batches: .*requests .* done/)
      const output = decodeOutput(readLines(path.join(dir, "out.jsonl")))
      assert.strictEqual(output.length, 124)
      output.slice(0, 120).forEach((line, i) => {
        assert.strictEqual(line.custom_id, `q${i}`)
        assert.include(contentOf(line), `question ${i}`)
      })
      assert.strictEqual(output[120]?.error?.code, "invalid_request")
      assert.strictEqual(output[121]?.custom_id, "bad-role")
      assert.include(output[121]?.error?.message ?? "", "body.messages")
      assert.strictEqual(output[122]?.response?.status_code, 200)
      assert.include(contentOf(output[123]!), "another model")
      const stats = yield* server.stats
      // 120 gpt-4o-mini lines in 3 files of at most 50, one for gpt-4o, one for embeddings
      assert.strictEqual(stats.byPath["/v1/files"], 5)
      assert.strictEqual(stats.byPath["/v1/batches"], 5)
      assert.isUndefined(stats.byPath["/v1/chat/completions"])
      assert.isFalse(fs.existsSync(path.join(dir, "out.jsonl.partial")))

      // cache-first: a rerun uploads nothing; an online run of the same file answers from the cache
      yield* server.reset
      const again = yield* run(["run", input, "-o", "again.jsonl", ...fast], { cwd: dir, env: envOf(server) })
      assert.strictEqual(again.code, 1)
      assert.isUndefined((yield* server.stats).byPath["/v1/files"])
      const online = yield* run(["run", input, "-o", "online.jsonl", "-q"], { cwd: dir, env: envOf(server) })
      assert.strictEqual(online.code, 1)
      assert.isUndefined((yield* server.stats).byPath["/v1/chat/completions"])
      const onlineOutput = decodeOutput(readLines(path.join(dir, "online.jsonl")))
      assert.deepStrictEqual(onlineOutput.map((l) => [l.custom_id, l.response?.status_code ?? l.error?.code]), output.map((l) => [l.custom_id, l.response?.status_code ?? l.error?.code]))
    }), 60_000)

  it.scopedLive("400s in the error file are failures, not resubmitted; expired lines go into a follow-up batch", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ linesPerSecond: 5_000, lineErrors: 0.1, expireBatches: 1, seed: 3 })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", questions(100))
      const done = yield* run(["run", input, "-o", "out.jsonl", ...fast], { cwd: dir, env: envOf(server) })
      assert.strictEqual(done.code, 1, done.stderr)
      const output = decodeOutput(readLines(path.join(dir, "out.jsonl")))
      assert.deepStrictEqual(output.map((l) => l.custom_id), Array.from({ length: 100 }, (_, i) => `q${i}`))
      const refused = output.filter((l) => l.response?.status_code === 400)
      assert.isAbove(refused.length, 0)
      assert.strictEqual(output.filter((l) => l.response?.status_code === 200).length + refused.length, 100)
      // the first batch expired half-way: one follow-up batch for the rest, and no third
      assert.strictEqual((yield* server.stats).byPath["/v1/batches"], 2)

      // with --retries 0 the expired lines are failures
      const server2 = yield* serverWith({ expireBatches: 1 })
      const dir2 = yield* tempDir
      const input2 = writeLines(dir2, "in.jsonl", questions(40))
      const given = yield* run(["run", input2, "-o", "out.jsonl", ...fast, "--retries", "0"], { cwd: dir2, env: envOf(server2) })
      assert.strictEqual(given.code, 1)
      const expired = decodeOutput(readLines(path.join(dir2, "out.jsonl"))).filter((l) => l.response?.status_code !== 200)
      assert.strictEqual(expired.length, 20)
      assert.include(JSON.stringify(expired[0]), "batch_expired")
    }), 60_000)

  it.scopedLive("a batch refused for the enqueued-token limit waits and is submitted again", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ refuseCreations: 2 })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", questions(30))
      const done = yield* run(["run", input, "-o", "out.jsonl", ...fast], { cwd: dir, env: envOf(server) })
      assert.strictEqual(done.code, 0, done.stderr)
      assert.strictEqual((yield* server.stats).byPath["/v1/batches"], 3)
      assert.strictEqual((yield* server.stats).byPath["/v1/files"], 1)
      assert.strictEqual(readLines(path.join(dir, "out.jsonl")).length, 30)
    }), 60_000)

  it.scopedLive("SIGKILL while waiting, then the same command: polls the batches it made, uploads nothing again", () =>
    Effect.gen(function*() {
      // slow clock: 300 lines at 100 lines/s keep the batches in progress for a few seconds
      const server = yield* serverWith({ linesPerSecond: 100 })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", questions(300))
      const args = ["run", input, "-o", "out.jsonl", ...fast, "--batch-size", "100"]
      const first = yield* start(args, { cwd: dir, env: envOf(server) })
      yield* waitUntil(() => (ledgerText(dir).match(/"created"/g) ?? []).length === 3)
      first.child.kill("SIGKILL")
      const killed = yield* first.finished
      assert.strictEqual(killed.signal, "SIGKILL")
      const before = yield* server.stats
      assert.strictEqual(before.byPath["/v1/files"], 3)
      assert.strictEqual(before.byPath["/v1/batches"], 3)
      assert.isFalse(fs.existsSync(path.join(dir, "out.jsonl")))

      const resumed = yield* run(args, { cwd: dir, env: envOf(server) })
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.include(resumed.stderr, "resuming batch job")
      const after = yield* server.stats
      assert.strictEqual(after.byPath["/v1/files"], 3) // nothing uploaded again
      assert.strictEqual(after.byPath["/v1/batches"], 3) // no batch created again
      const output = decodeOutput(readLines(path.join(dir, "out.jsonl")))
      assert.deepStrictEqual(output.map((l) => l.custom_id), Array.from({ length: 300 }, (_, i) => `q${i}`))
      assert.isTrue(output.every((l) => l.response?.status_code === 200))
      assert.strictEqual(ledgerText(dir), "") // the job's files are gone once OUTPUT is written
    }), 60_000)

  it.scopedLive("Ctrl-C (not a terminal) leaves the batches running and says how to resume or cancel; batches list/cancel", () =>
    Effect.gen(function*() {
      const server = yield* serverWith({ linesPerSecond: 2 })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", questions(100))
      const args = ["run", input, "-o", "out.jsonl", ...fast]
      const first = yield* start(args, { cwd: dir, env: envOf(server) })
      yield* waitUntil(() => ledgerText(dir).includes("\"created\""))
      first.child.kill("SIGINT")
      const interrupted = yield* first.finished
      assert.strictEqual(interrupted.code, 130, interrupted.stderr)
      assert.include(interrupted.stderr, "left 1 batch running")
      assert.include(interrupted.stderr, "fastllm batches cancel --all")

      const listed = yield* run(["batches", "list"], { cwd: dir, env: envOf(server) })
      assert.strictEqual(listed.code, 0, listed.stderr)
      assert.match(listed.stdout, /batch_\S+\s+(validating|in_progress)/)
      const batchId = /(batch_\S+)/.exec(listed.stdout)?.[1] ?? ""
      const status = yield* run(["batches", "status", batchId], { cwd: dir, env: envOf(server) })
      assert.include(status.stdout, `"id": "${batchId}"`)
      const cancelled = yield* run(["batches", "cancel", "--all"], { cwd: dir, env: envOf(server) })
      assert.strictEqual(cancelled.code, 0, cancelled.stderr)
      assert.include(cancelled.stdout, `${batchId}: cancelling`, cancelled.stdout)

      // the same command collects what the cancelled batch answered and resubmits the rest
      yield* server.configure({ batch: { linesPerSecond: 5_000 } })
      const resumed = yield* run(args, { cwd: dir, env: envOf(server) })
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.strictEqual(readLines(path.join(dir, "out.jsonl")).length, 100)
      assert.strictEqual((yield* server.stats).byPath["/v1/batches"], 2, resumed.stderr + JSON.stringify((yield* server.stats).byPath))
    }), 60_000)

  it.scopedLive("runs with no key on the built-in server's Batch API", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", questions(20))
      const done = yield* run(["run", input, "-o", "out.jsonl", "--batch-api", "--poll-interval", "50ms"], { cwd: dir })
      assert.strictEqual(done.code, 0, done.stderr)
      assert.include(done.stderr, "built-in local test server's Batch API")
      assert.strictEqual(readLines(path.join(dir, "out.jsonl")).length, 20)
    }), 60_000)
})
