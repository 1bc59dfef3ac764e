import { assert, describe, it } from "@effect/vitest"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as fs from "node:fs"
import { readLines, run, tempDir, writeLines } from "./fixtures/childProcess.js"

// The cost budget and trace export as a person uses them: real `fastllm run` child processes.

const lines = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    custom_id: `c${i}`,
    method: "POST",
    url: "/v1/chat/completions",
    body: { model: "budget-model", messages: [{ role: "user", content: `item ${i} ${"x".repeat(30)}` }], max_tokens: 8 }
  }))

const errorCode = (line: unknown): unknown =>
  typeof line === "object" && line !== null && "error" in line && typeof line.error === "object" && line.error !== null &&
    "code" in line.error
    ? line.error.code
    : undefined

describe("fastllm run --max-cost / --price", () => {
  it.live("stops at the budget with budget_exceeded lines and exit 1; a rerun with more budget completes from the cache", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", lines(60))
      // $1 per token: each call reserves ~20 tokens = ~$20
      const price = ["--price", "budget-model=1000000,1000000"]
      const first = yield* run(["run", input, "-o", `${dir}/out.jsonl`, "--max-cost", "200", ...price, "--stats-json", `${dir}/s1.json`, "--concurrency", "4"], { cwd: dir })
      assert.strictEqual(first.code, 1, first.stderr)
      const out = readLines(`${dir}/out.jsonl`)
      const refused = out.filter((line) => errorCode(line) === "budget_exceeded")
      const answered = out.filter((line) => errorCode(line) === undefined)
      assert.isAbove(refused.length, 0)
      assert.isAbove(answered.length, 0)
      assert.strictEqual(refused.length + answered.length, 60)
      const stats1: { cost: { usd: number }; maxCost: number } = JSON.parse(fs.readFileSync(`${dir}/s1.json`, "utf8"))
      assert.isAtMost(stats1.cost.usd, 200)
      assert.strictEqual(stats1.maxCost, 200)

      const second = yield* run(["run", input, "-o", `${dir}/out.jsonl`, "--max-cost", "100000", ...price, "--stats-json", `${dir}/s2.json`], { cwd: dir })
      assert.strictEqual(second.code, 0, second.stderr)
      const stats2: { cached: number } = JSON.parse(fs.readFileSync(`${dir}/s2.json`, "utf8"))
      assert.strictEqual(stats2.cached, answered.length)
      assert.isTrue(readLines(`${dir}/out.jsonl`).every((line) => errorCode(line) === undefined))
      assert.include(second.stderr, "cost: $")

      const bad = yield* run(["run", input, "--max-cost", "-3"], { cwd: dir })
      assert.strictEqual(bad.code, 2)
    })), 180_000)

  it.live("exports spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, never with the key", () =>
    Effect.scoped(Effect.gen(function*() {
      const dir = yield* tempDir
      const apiKey = "sk-otlp-test-9876543210"
      const server = yield* TestServer.make({ apiKey, latency: { minMs: 1, maxMs: 3 } })
      const received: Array<string> = []
      const collector = yield* Effect.acquireRelease(
        Effect.async<http.Server>((resume) => {
          const s = http.createServer((request, response) => {
            let body = ""
            request.setEncoding("utf8").on("data", (chunk: string) => body += chunk).on("end", () => {
              received.push(`${request.method} ${request.url} ${JSON.stringify(request.headers)} ${body}`)
              response.writeHead(200, { "content-type": "application/json" }).end("{}")
            })
          })
          s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
        }),
        (s) => Effect.sync(() => s.close())
      )
      const port = (collector.address() as AddressInfo).port
      const input = writeLines(dir, "in.jsonl", lines(5).map((line) => ({ ...line, body: { ...line.body, model: "gpt-4o-mini" } })))
      const result = yield* run(["run", input, "-o", `${dir}/out.jsonl`, "--base-url", server.url, "-q"], {
        cwd: dir,
        env: {
          OPENAI_API_KEY: apiKey,
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_EXPORTER_OTLP_HEADERS: "x-collector-token=abc%20def",
          OTEL_SERVICE_NAME: "fastllm-e2e"
        }
      })
      assert.strictEqual(result.code, 0, result.stderr)
      const all = received.join("\n")
      assert.isAbove(received.length, 0)
      assert.include(all, "POST /v1/traces")
      assert.include(all, "\"x-collector-token\":\"abc def\"")
      assert.include(all, "fastllm-e2e")
      assert.include(all, "fastllm.item gpt-4o-mini")
      assert.include(all, "chat gpt-4o-mini")
      assert.include(all, "gen_ai.usage.input_tokens")
      assert.notInclude(all, apiKey)
    })), 120_000)
})
