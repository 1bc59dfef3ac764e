/**
 * Crash and resume: `fastllm run` with a disk cache as a child process, SIGKILLed half way; the
 * rerun completes, the server sees only what was missing (plus what was in flight at the kill),
 * and the cache opens intact.
 */
import { assert, describe, it } from "@effect/vitest"
import { DiskCache } from "@fastllm/cache-disk"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { batchLine, chat, content, readOutput, readStats, run, start, tempDir, waitUntil, writeLines } from "./fixtures/cli.js"

const total = 1_000
const concurrency = 8

describe("crash and resume (CLI child process, disk cache, SIGKILL)", () => {
  it.scopedLive("the rerun completes and sends only the missing items", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 10 } })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", Array.from({ length: total }, (_, i) => batchLine(`item-${i}`, chat(`resume item ${i}`))))
      const output = path.join(dir, "out.jsonl")
      const cache = path.join(dir, "cache")
      const args = ["run", input, "-o", output, "--base-url", server.url, "--cache", cache, "--concurrency", String(concurrency), "--progress", "none"]
      const env = { OPENAI_API_KEY: "sk-reliability" }

      // First run: killed without warning once the server has seen about half the items.
      const first = yield* start(args, { cwd: dir, env })
      yield* waitUntil(Effect.map(server.stats, (stats) => stats.requests >= total / 2))
      first.child.kill("SIGKILL")
      const killed = yield* first.finished
      assert.strictEqual(killed.signal, "SIGKILL")
      assert.isFalse(fs.existsSync(output), "no output under the final name after a crash")
      const beforeKill = new Set((yield* server.stats).byBodyHash.keys())
      assert.isAtLeast(beforeKill.size, total / 2)
      assert.isBelow(beforeKill.size, total)

      // Rerun: completes, every line answered, in order.
      yield* server.reset
      const statsFile = path.join(dir, "stats.json")
      const rerun = yield* run([...args, "--stats-json", statsFile], { cwd: dir, env })
      assert.strictEqual(rerun.code, 0, rerun.stderr)
      const lines = readOutput(output)
      assert.strictEqual(lines.length, total)
      lines.forEach((line, i) => {
        assert.strictEqual(line.custom_id, `item-${i}`)
        assert.strictEqual(line.error, null)
        assert.include(content(line) ?? "", `resume item ${i} (`)
      })

      // The server saw only the items the first run had not finished: those it never sent, plus at
      // most those in flight (sent, not yet answered or not yet written to the cache) at the kill.
      const afterKill = (yield* server.stats).byBodyHash
      const resent = [...afterKill.keys()].filter((hash) => beforeKill.has(hash))
      assert.isAtMost(resent.length, 4 * concurrency)
      assert.strictEqual(new Set([...beforeKill, ...afterKill.keys()]).size, total)
      const stats = readStats(statsFile)
      assert.strictEqual(stats.cached + stats.apiCalls, total)
      assert.isAtLeast(stats.cached, beforeKill.size - 4 * concurrency)

      // The cache opens intact and holds every answer: a third run sends nothing.
      const size = yield* Effect.scoped(Effect.flatMap(DiskCache.make({ path: cache }), (disk) => disk.size))
      assert.strictEqual(size, total)
      yield* server.reset
      const third = yield* run(args, { cwd: dir, env })
      assert.strictEqual(third.code, 0, third.stderr)
      assert.strictEqual((yield* server.stats).requests, 0)
      assert.deepStrictEqual(readOutput(output).map(content), lines.map(content))
    }), { timeout: 60_000 })
})
