/**
 * Bad input files through `fastllm run` (child process): empty files, blank lines, invalid JSON,
 * wrong types, a missing model, a 1 MB line, invalid UTF-8. Every bad line gets its own error line
 * naming its line number (`id: batch_req_<line>`, and in the message where the line could not be
 * read at all) and its custom_id; everything else completes.
 */
import { assert, describe, it } from "@effect/vitest"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { batchLine, chat, content, readOutput, readStats, run, tempDir, writeLines } from "./fixtures/cli.js"

const env = { OPENAI_API_KEY: "sk-reliability" }

const runFile = (dir: string, url: string, name: string, lines: ReadonlyArray<unknown>) =>
  Effect.gen(function*() {
    const input = writeLines(dir, `${name}.jsonl`, lines)
    const output = path.join(dir, `${name}.out.jsonl`)
    const statsFile = path.join(dir, `${name}.stats.json`)
    const finished = yield* run(
      ["run", input, "-o", output, "--base-url", url, "--no-cache", "--progress", "none", "--stats-json", statsFile],
      { cwd: dir, env }
    )
    return { finished, output, stats: fs.existsSync(statsFile) ? readStats(statsFile) : undefined }
  })

describe("bad input files", () => {
  it.scopedLive("an empty file and a file of blank lines complete with an empty output", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const dir = yield* tempDir
      fs.writeFileSync(path.join(dir, "empty.jsonl"), "")
      for (const [name, text] of [["empty", ""], ["blank", "\n\n   \n\t\n\r\n"]] as const) {
        const input = path.join(dir, `${name}.jsonl`)
        fs.writeFileSync(input, text)
        const output = path.join(dir, `${name}.out.jsonl`)
        const finished = yield* run(["run", input, "-o", output, "--base-url", server.url, "--no-cache", "--progress", "none"], {
          cwd: dir,
          env
        })
        assert.strictEqual(finished.code, 0, finished.stderr)
        assert.strictEqual(fs.readFileSync(output, "utf8"), "")
      }
      assert.strictEqual((yield* server.stats).requests, 0)
    }), { timeout: 30_000 })

  it.scopedLive("every bad line gets its own error naming its line and custom_id; the rest completes", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const dir = yield* tempDir
      const big = "x".repeat(1024 * 1024)
      const { finished, output, stats } = yield* runFile(dir, server.url, "mixed", [
        batchLine("ok-first", chat("first")), // line 1
        "", // 2
        "   ", // 3
        "{\"custom_id\":\"cut-off\",\"method\": ", // 4: invalid JSON
        batchLine("wrong-types", { model: 42, messages: "hello" }), // 5
        batchLine("no-model", { messages: [{ role: "user", content: "which model?" }] }), // 6
        batchLine("one-megabyte", chat(big)), // 7: a 1 MB line
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("{\"custom_id\":\"bom-garbage\"}")]), // 8: invalid UTF-8, not JSON
        "[1, 2, 3]", // 9: JSON, not an object
        { custom_id: 7, method: "POST", url: "/v1/chat/completions", body: chat("numeric id") }, // 10
        chat("bare body last") // 11
      ])
      assert.strictEqual(finished.code, 1, finished.stderr)
      assert.include(finished.stderr, "6 of 9 items failed")

      const lines = readOutput(output)
      assert.deepStrictEqual(lines.map((line) => line.id), [1, 4, 5, 6, 7, 8, 9, 10, 11].map((n) => `batch_req_${n}`))
      const byId = new Map(lines.map((line) => [line.id, line]))
      const ok = (n: number, customId: string, text: string) => {
        const line = byId.get(`batch_req_${n}`)
        assert.strictEqual(line?.custom_id, customId)
        assert.strictEqual(line?.error, null)
        assert.strictEqual(line?.response?.status_code, 200)
        assert.include(content(line!) ?? "", text)
      }
      const failed = (n: number, customId: string, ...mentions: ReadonlyArray<string>) => {
        const line = byId.get(`batch_req_${n}`)
        assert.strictEqual(line?.custom_id, customId)
        assert.strictEqual(line?.response, null)
        assert.strictEqual(line?.error?.code, "invalid_request")
        for (const mention of mentions) assert.include(line?.error?.message ?? "", mention)
      }
      ok(1, "ok-first", "Echo: first (")
      failed(4, "4", "line 4", "not valid JSON") // its custom_id is unreadable: the line number stands in
      failed(5, "wrong-types", "body.model", "Expected string")
      failed(6, "no-model", "body.model", "missing")
      ok(7, "one-megabyte", "Echo: xxxx")
      failed(8, "8", "line 8", "not valid UTF-8") // its bytes fail first: never decoded with replacements
      failed(9, "9", "JSON object")
      failed(10, "10", "custom_id")
      ok(11, "11", "Echo: bare body last (")

      assert.strictEqual(stats?.total, 9)
      assert.strictEqual(stats?.succeeded, 3)
      assert.strictEqual(stats?.apiCalls, 3)
      assert.strictEqual((yield* server.stats).requests, 3, "bad lines never reach the server")
    }), { timeout: 30_000 })

  // BatchFile decodes each line as strict UTF-8 (BatchFile.utf8Lines): a line with invalid bytes
  // fails on its own line instead of being sent with U+FFFD replacement characters.
  it.scopedLive("invalid UTF-8 inside a string is reported on its line, not silently replaced", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const dir = yield* tempDir
      const line = Buffer.from(JSON.stringify(batchLine("bad-utf8", chat("PLACEHOLDER"))))
      const at = line.indexOf("PLACEHOLDER")
      const broken = Buffer.concat([line.subarray(0, at), Buffer.from([0x63, 0x61, 0x66, 0xc3, 0x28]), line.subarray(at + 11)])
      const { output } = yield* runFile(dir, server.url, "utf8", [batchLine("fine", chat("fine")), broken])
      const lines = readOutput(output)
      assert.strictEqual(lines[1]?.custom_id, "bad-utf8")
      assert.strictEqual(lines[1]?.error?.code, "invalid_request")
      assert.include(lines[1]?.error?.message ?? "", "line 2")
      assert.strictEqual((yield* server.stats).requests, 1)
    }), { timeout: 30_000 })
})
