/**
 * The README's library example is this folder's readme.ts: the test checks that the two match,
 * `npm run check` type-checks the file, and the test runs it against the local test server.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import { examplesDir as here, runScript, tempDir } from "./fixtures/runScript.js"

const readmeExample = (): string => {
  const readme = fs.readFileSync(path.join(here, "..", "README.md"), "utf8")
  const section = readme.slice(readme.indexOf("## Library usage"))
  const match = /```ts\n([\s\S]*?)```/.exec(section)
  assert(match !== null, "README has a ```ts block under ## Library usage")
  return match[1]!
}

describe("README library example", () => {
  it("is examples/readme.ts, verbatim (so it is type-checked)", () => {
    const file = fs.readFileSync(path.join(here, "readme.ts"), "utf8")
    assert.isTrue(file.endsWith(readmeExample()), "examples/readme.ts must end with the README's example")
  })

  it.scopedLive("runs against an OpenAI-compatible server and answers from the disk cache the second time", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const cwd = yield* tempDir
      const env = { OPENAI_API_KEY: "sk-readme-test", OPENAI_BASE_URL: server.url }
      const first = yield* runScript("readme.ts", cwd, env)
      assert.strictEqual(first.code, 0, first.stderr)
      assert.include(first.stdout, "3 ok, 0 cached")
      assert.include(first.stdout, "Paris")
      const second = yield* runScript("readme.ts", cwd, env)
      assert.strictEqual(second.code, 0, second.stderr)
      assert.include(second.stdout, "3 ok, 3 cached, 0 tokens")
      assert.strictEqual((yield* server.stats).requests, 3)
    }), { timeout: 60_000 })
})
