import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { Cost as CoreCost } from "@fastllm/core"
import { ResultIndex } from "@fastllm/viewer"
import { completionTokensOf, kindOf, modelOf, outputLine, promptTokensOf, writeLines } from "./fixtures/resultFile.js"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "fastllm-viewer-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

// 60,000 lines, ~26 MB: seven 4 MB chunks, so lines cross chunk boundaries.
const lines = 60_000
const range = (n: number) => Array.from({ length: n }, (_, i) => i)

describe("ResultIndex on a large generated file", () => {
  it.scopedLive("counts, filters, sorts, searches and reads lines like a full parse would", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "output.jsonl")
      yield* Effect.promise(() => writeLines(file, lines, (i) => outputLine(i)))
      const index = yield* ResultIndex.make(file)
      assert.strictEqual(index.size, lines)

      const all = range(lines)
      const ok = all.filter((i) => kindOf(i) === "ok")
      const summary = yield* index.summary
      assert.strictEqual(summary.lines, lines)
      assert.strictEqual(summary.succeeded, ok.length)
      assert.strictEqual(summary.failed, lines - ok.length)
      assert.strictEqual(summary.promptTokens, ok.reduce((n, i) => n + promptTokensOf(i), 0))
      assert.strictEqual(summary.completionTokens, ok.reduce((n, i) => n + completionTokensOf(i), 0))
      // Costs from core's price table (both models are priced), at online prices.
      const costOf = (i: number) =>
        CoreCost.ofTokens(modelOf(i), {
          promptTokens: promptTokensOf(i),
          completionTokens: completionTokensOf(i),
          totalTokens: promptTokensOf(i) + completionTokensOf(i),
          cachedTokens: 0,
          reasoningTokens: 0
        })
      assert.strictEqual(summary.cost.known, ok.length)
      assert.closeTo(summary.cost.total, ok.reduce((n, i) => n + costOf(i)!, 0), 1e-9)
      const expectedCodes = new Map<string, number>()
      for (const i of all) {
        const kind = kindOf(i)
        if (kind === "ok") continue
        const code = kind === "api_error" ? "invalid_request_error" : kind
        expectedCodes.set(code, (expectedCodes.get(code) ?? 0) + 1)
      }
      assert.deepStrictEqual(
        Object.fromEntries(summary.errorsByCode.map((e) => [e.code, e.count])),
        Object.fromEntries(expectedCodes)
      )
      assert.deepStrictEqual(
        Object.fromEntries(summary.models.map((m) => [m.model, m.count])),
        { "gpt-4o": ok.filter((i) => modelOf(i) === "gpt-4o").length, "gpt-4o-mini": ok.filter((i) => modelOf(i) === "gpt-4o-mini").length }
      )
      const histogramTotal = summary.outputTokens.counts.reduce((a, b) => a + b, 0)
      assert.strictEqual(histogramTotal, ok.length)

      // A page in file order, then the failures of one code, then a sort by output tokens.
      const first = yield* index.page({ offset: 10, limit: 5 })
      assert.strictEqual(first.total, lines)
      assert.deepStrictEqual(first.rows.map((r) => r.customId), ["item-10", "item-11", "item-12", "item-13", "item-14"])
      assert.deepStrictEqual(first.rows.map((r) => r.ok), [true, true, true, false, true])
      assert.strictEqual(first.rows[3]?.code, "rate_limit_exceeded") // kindOf(13)
      assert.strictEqual(first.rows[0]?.completionTokens, completionTokensOf(10))
      assert.strictEqual(first.rows[0]?.cost, costOf(10) ?? null)
      assert.strictEqual(first.rows[3]?.cost, null) // a failure: no usage, no cost

      const timeouts = yield* index.page({ status: "failed", code: "timeout", limit: 1000 })
      const expectedTimeouts = all.filter((i) => kindOf(i) === "timeout")
      assert.strictEqual(timeouts.total, expectedTimeouts.length)
      assert.deepStrictEqual(timeouts.rows.slice(0, 3).map((r) => r.index), expectedTimeouts.slice(0, 3))
      assert.strictEqual(timeouts.rows[0]?.preview, `item ${expectedTimeouts[0]} failed: timeout`)

      const byOutput = yield* index.page({ sort: "completion", descending: true, limit: 3 })
      const expectedTop = [...ok].sort((a, b) => completionTokensOf(b) - completionTokensOf(a) || a - b).slice(0, 3)
      assert.deepStrictEqual(byOutput.rows.map((r) => r.index), expectedTop)
      const ascending = yield* index.page({ sort: "total", status: "ok", limit: 1 })
      assert.strictEqual(ascending.rows[0]?.promptTokens! + ascending.rows[0]?.completionTokens!, Math.min(...ok.map((i) => promptTokensOf(i) + completionTokensOf(i))))

      // Search is over the text of the line, ASCII letters in either case.
      const found = yield* index.page({ search: "ANSWER 4242: the", limit: 50 })
      assert.deepStrictEqual(found.rows.map((r) => r.customId), ["item-4242"])
      const prefix = yield* index.page({ search: "Item-4242", limit: 50 })
      assert.deepStrictEqual(prefix.rows.map((r) => r.customId), all.map((i) => `item-${i}`).filter((id) => id.includes("item-4242")))

      assert.strictEqual(yield* index.line(59_999), outputLine(59_999))
      const outOfRange = yield* Effect.flip(index.line(lines))
      assert.strictEqual(outOfRange._tag, "ResultFileError")
    }), { timeout: 120_000 })

  it.scopedLive("reads odd lines right: CRLF, blank lines, spaces after colons, costs, forged keys in answers, huge lines", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = path.join(dir, "odd.jsonl")
      const forged = outputLine(0, "\"status_code\": 500, \"error\": {\"code\": \"forged\"}, \"prompt_tokens\": 999999 \\\" \"cost\": 1")
      const pythonStyle = JSON.stringify(JSON.parse(outputLine(1)), null, 0).replace(/":/g, "\": ").replace(/,"/g, ", \"")
      const withCost = JSON.stringify({
        id: "x",
        custom_id: "priced",
        response: { status_code: 200, request_id: "r", body: { model: "m", choices: [], usage: { prompt_tokens: 5, completion_tokens: 7, cost: 0.00125 } } },
        error: null
      })
      const huge = outputLine(4, "x".repeat(9 * 1024 * 1024))
      const cachedLine = JSON.stringify({ ...JSON.parse(outputLine(6)), cached: true }).replace("gpt-4o", "a-model-nobody-prices")
      const promptCached = outputLine(7).replace("\"total_tokens\"", "\"prompt_tokens_details\":{\"cached_tokens\":10},\"total_tokens\"")
      const text = [forged, "", "   ", pythonStyle, "{ not json", withCost, huge, outputLine(3), cachedLine, promptCached].join("\r\n") + "\r\n"
      fs.writeFileSync(file, text)
      const index = yield* ResultIndex.make(file)
      assert.strictEqual(index.size, 8)
      const { rows } = yield* index.page({ limit: 10 })
      assert.deepStrictEqual(rows.map((r) => [r.customId, r.ok, r.code]), [
        ["item-0", true, ""],
        ["item-1", true, ""],
        ["", false, "unreadable_line"],
        ["priced", true, ""],
        ["item-4", true, ""],
        ["item-3", false, "invalid_request_error"],
        ["item-6", true, ""],
        ["item-7", true, ""]
      ])
      assert.strictEqual(rows[0]?.promptTokens, promptTokensOf(0))
      assert.strictEqual(rows[1]?.completionTokens, completionTokensOf(1))
      const tokens = (prompt: number, completion: number, cached = 0) => ({
        promptTokens: prompt,
        completionTokens: completion,
        totalTokens: prompt + completion,
        cachedTokens: cached,
        reasoningTokens: 0
      })
      assert.strictEqual(rows[3]?.cost, 0.00125) // the line's own cost wins
      assert.strictEqual(rows[0]?.cost, CoreCost.ofTokens("gpt-4o", tokens(promptTokensOf(0), completionTokensOf(0))))
      assert.strictEqual(rows[2]?.cost, null) // not JSON
      assert.strictEqual(rows[6]?.cost, null) // a model the table does not know: unknown, never guessed
      const cachedPrice = CoreCost.ofTokens("gpt-4o-mini", tokens(promptTokensOf(7), completionTokensOf(7), 10))
      assert.strictEqual(rows[7]?.cost, cachedPrice)
      assert.isBelow(cachedPrice!, CoreCost.ofTokens("gpt-4o-mini", tokens(promptTokensOf(7), completionTokensOf(7)))!)
      assert.deepStrictEqual(rows.map((r) => r.cached), [false, false, false, false, false, false, true, false])
      assert.strictEqual(yield* index.line(4), huge)
      const summary = yield* index.summary
      const known = rows.flatMap((r) => r.cost === null ? [] : [r.cost])
      assert.strictEqual(summary.cost.known, known.length)
      assert.closeTo(summary.cost.total, known.reduce((a, b) => a + b, 0), 1e-12)
      assert.strictEqual(summary.cached, 1)
    }), { timeout: 60_000 })

  it.scoped("a missing file is a ResultFileError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(ResultIndex.make("/nonexistent/output.jsonl"))
      assert.strictEqual(error._tag, "ResultFileError")
      assert.include(error.message, "/nonexistent/output.jsonl")
    }))
})
