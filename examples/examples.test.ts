/**
 * Runs every example program as `npm run example:NAME` would (tsx, no API key: the built-in
 * local server answers) and checks what it prints.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { runScript as runExample, tempDir } from "./fixtures/runScript.js"

describe("examples (child processes, built-in local server)", () => {
  it.scopedLive("basic.ts, stream-jsonl.ts and embeddings.ts run and print their results", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const [basic, stream, embeddings] = yield* Effect.all([
        runExample("basic.ts", dir),
        runExample("stream-jsonl.ts", dir),
        runExample("embeddings.ts", dir)
      ], { concurrency: "unbounded" })

      assert.strictEqual(basic.code, 0, basic.stderr)
      assert.include(basic.stderr, "built-in local test server")
      assert.match(basic.stdout, /^Paris: .+$/m)
      assert.include(basic.stdout, "8/8 succeeded, 0 from the cache")
      assert.isTrue(fs.existsSync(path.join(dir, ".fastllm-cache", "examples")), "basic.ts uses the disk cache")

      assert.strictEqual(stream.code, 0, stream.stderr)
      assert.include(stream.stdout, "303 results: 242 chat, 61 embeddings, 0 failed")
      assert.include(stream.stdout, "300 API calls", "the 3 duplicate lines were answered once")

      assert.strictEqual(embeddings.code, 0, embeddings.stderr)
      assert.include(embeddings.stdout, "Query: Where do cats like to nap?")
      assert.strictEqual(embeddings.stdout.trim().split("\n").length, 5)

      // Run twice, basic.ts is answered from the disk cache.
      const again = yield* runExample("basic.ts", dir)
      assert.strictEqual(again.code, 0, again.stderr)
      assert.include(again.stdout, "8/8 succeeded, 8 from the cache")
    }), 90_000)

  it.scopedLive("structured.ts: 200 typed values or OutputErrors, repairs counted, the rerun makes no API call", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const first = yield* runExample("structured.ts", dir)
      assert.strictEqual(first.code, 0, first.stderr)
      assert.match(first.stdout, /^The pasta was wonderful \(#1\)\. → (positive|negative|neutral) \(\d(\.\d+)?\)$/m)
      const summary = /^200 texts: (\d+) typed values \((\d+) after a repair\), (\d+) OutputErrors, 0 refusals$/m.exec(first.stdout)
      assert.isNotNull(summary, first.stdout)
      assert.strictEqual(Number(summary![1]) + Number(summary![3]), 200, "every item is a value or an OutputError")
      assert.isAbove(Number(summary![2]), 10, "a fifth of the answers were invalid: repaired")
      const calls = /^(\d+) requests \((\d+) repairs\), (\d+) API calls, 0 from the cache/m.exec(first.stdout)
      assert.isNotNull(calls, first.stdout)
      assert.strictEqual(Number(calls![1]), 200 + Number(calls![2]))
      assert.strictEqual(Number(calls![3]), Number(calls![1]))

      const again = yield* runExample("structured.ts", dir)
      assert.strictEqual(again.code, 0, again.stderr)
      assert.include(again.stdout, summary![0], "the same typed values, decoded from the cache")
      assert.include(again.stdout, `${calls![1]} requests (${calls![2]} repairs), 0 API calls, ${calls![1]} from the cache, 0 tokens`)
    }), 90_000)
})
