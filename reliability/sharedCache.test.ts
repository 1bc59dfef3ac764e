/**
 * Two `fastllm` processes on one disk cache with overlapping inputs, at the same time: both
 * complete with correct answers, the cache stays intact, and answers one process wrote are reused
 * by the other.
 */
import { assert, describe, it } from "@effect/vitest"
import { DiskCache } from "@fastllm/cache-disk"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { batchLine, chat, content, readOutput, readStats, run, start, tempDir, waitUntil, writeLines } from "./fixtures/cli.js"

const item = (i: number) => batchLine(`item-${i}`, chat(`shared item ${i}`))
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k)

describe("two processes on one disk cache", () => {
  it.scopedLive("both complete, nothing is corrupted, and the second reuses the first one's answers", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 10 } })
      const dir = yield* tempDir
      const cache = path.join(dir, "cache")
      const env = { OPENAI_API_KEY: "sk-reliability" }
      // A: items 0..599. B: 300 items of its own first, then items 0..599 again (A is answering those
      // meanwhile, so B finds the first ones in the cache and may race A on the rest).
      const inputs = {
        a: range(0, 600),
        b: [...range(600, 900), ...range(0, 600)]
      }
      const args = (name: "a" | "b") => [
        "run",
        writeLines(dir, `${name}.jsonl`, inputs[name].map(item)),
        "-o",
        path.join(dir, `${name}.out.jsonl`),
        "--base-url",
        server.url,
        "--cache",
        cache,
        "--concurrency",
        "8",
        "--progress",
        "none",
        "--stats-json",
        path.join(dir, `${name}.stats.json`)
      ]
      // B starts once A has answered a third of its items, so that A's first answers are certainly
      // in the cache when B reaches them, while both still run (and write) at the same time.
      const a = yield* start(args("a"), { cwd: dir, env })
      yield* waitUntil(Effect.map(server.stats, (stats) => stats.requests >= 200))
      const b = yield* start(args("b"), { cwd: dir, env })
      const [doneA, doneB] = yield* Effect.all([a.finished, b.finished], { concurrency: 2 })
      assert.strictEqual(doneA.code, 0, doneA.stderr)
      assert.strictEqual(doneB.code, 0, doneB.stderr)

      // Both outputs are complete, in order, and each line is the answer to its own request.
      for (const name of ["a", "b"] as const) {
        const lines = readOutput(path.join(dir, `${name}.out.jsonl`))
        assert.strictEqual(lines.length, inputs[name].length)
        lines.forEach((line, k) => {
          const i = inputs[name][k]!
          assert.strictEqual(line.custom_id, `item-${i}`)
          assert.strictEqual(line.error, null)
          assert.include(content(line) ?? "", `shared item ${i} (`)
        })
      }

      // Reuse: B answered some of A's items from the cache; no item was sent more than once per process.
      const statsB = readStats(path.join(dir, "b.stats.json"))
      assert.isAbove(statsB.cached, 0)
      const seen = yield* server.stats
      assert.strictEqual(seen.byBodyHash.size, 900)
      assert.isAtMost(Math.max(...seen.byBodyHash.values()), 2)
      assert.strictEqual(seen.requests, 1500 - statsB.cached - readStats(path.join(dir, "a.stats.json")).cached)

      // The cache opens intact with every answer, and a third process reuses all of them.
      const size = yield* Effect.scoped(Effect.flatMap(DiskCache.make({ path: cache }), (disk) => disk.size))
      assert.strictEqual(size, 900)
      yield* server.reset
      const third = yield* run(args("b"), { cwd: dir, env })
      assert.strictEqual(third.code, 0, third.stderr)
      assert.strictEqual((yield* server.stats).requests, 0)
      assert.strictEqual(readStats(path.join(dir, "b.stats.json")).cached, 900)
    }), { timeout: 60_000 })
})
