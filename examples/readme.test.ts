/**
 * The README's library example is this folder's readme.ts: the test checks that the two match,
 * `npm run check` type-checks the file, and the test runs it against the local test server.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"

const here = fileURLToPath(new URL(".", import.meta.url))
const tsx = fileURLToPath(new URL("../node_modules/tsx/dist/cli.mjs", import.meta.url))

const readmeExample = (): string => {
  const readme = fs.readFileSync(path.join(here, "..", "README.md"), "utf8")
  const section = readme.slice(readme.indexOf("## Library usage"))
  const match = /```ts\n([\s\S]*?)```/.exec(section)
  assert(match !== null, "README has a ```ts block under ## Library usage")
  return match[1]!
}

const run = (file: string, cwd: string, env: NodeJS.ProcessEnv) =>
  Effect.async<{ readonly code: number | null; readonly stdout: string; readonly stderr: string }>((resume) => {
    const child = spawn(process.execPath, [tsx, file], { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => stdout += text)
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text)
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("README library example", () => {
  it("is examples/readme.ts, verbatim (so it is type-checked)", () => {
    const file = fs.readFileSync(path.join(here, "readme.ts"), "utf8")
    assert.isTrue(file.endsWith(readmeExample()), "examples/readme.ts must end with the README's example")
  })

  it.scopedLive("runs against an OpenAI-compatible server and answers from the disk cache the second time", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "fastllm-readme-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(cwd, { recursive: true, force: true })))
      const env = { ...process.env, OPENAI_API_KEY: "sk-readme-test", OPENAI_BASE_URL: server.url }
      const first = yield* run(path.join(here, "readme.ts"), cwd, env)
      assert.strictEqual(first.code, 0, first.stderr)
      assert.include(first.stdout, "3 ok, 0 cached")
      assert.include(first.stdout, "Paris")
      const second = yield* run(path.join(here, "readme.ts"), cwd, env)
      assert.strictEqual(second.code, 0, second.stderr)
      assert.include(second.stdout, "3 ok, 3 cached, 0 tokens")
      assert.strictEqual((yield* server.stats).requests, 3)
    }), { timeout: 60_000 })
})
