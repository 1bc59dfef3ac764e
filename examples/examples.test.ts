/**
 * Runs every example program as `npm run example:NAME` would (tsx, no API key: the built-in
 * local server answers) and checks what it prints.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"

const examples = fileURLToPath(new URL(".", import.meta.url))
const tsx = fileURLToPath(new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url))

interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const runExample = (name: string, cwd: string): Effect.Effect<Finished> =>
  Effect.async<Finished>((resume) => {
    const env: NodeJS.ProcessEnv = { ...process.env }
    delete env.OPENAI_API_KEY
    delete env.OPENAI_BASE_URL
    const child = spawn(process.execPath, [tsx, path.join(examples, name)], { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => stdout += text)
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text)
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "fastllm-examples-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

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
})
