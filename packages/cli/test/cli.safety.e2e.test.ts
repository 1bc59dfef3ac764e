import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { proxy } from "../../provider-openai/test/fixtures/proxy.js"
import { bin, childEnv, type Finished, readLines, run, start, tempDir, waitUntil, writeLines } from "./fixtures/childProcess.js"

const apiKey = "sk-cli-safety"
const env = { OPENAI_API_KEY: apiKey }
const chat = (content: string) => ({ model: "gpt-4o-mini", messages: [{ role: "user", content }], max_tokens: 5 })
const line = (customId: string, content: string) => ({
  custom_id: customId,
  method: "POST",
  url: "/v1/chat/completions",
  body: chat(content)
})
const Stats = Schema.Struct({ cached: Schema.Number, apiCalls: Schema.Number, total: Schema.Number })
const readStats = (file: string) => Schema.decodeUnknownSync(Schema.parseJson(Stats))(fs.readFileSync(file, "utf8"))

/** `fastllm args...` with `input` written to its stdin. */
const runWithStdin = (args: ReadonlyArray<string>, input: string, options: { readonly cwd: string }) =>
  Effect.async<Finished>((resume) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: options.cwd, env: childEnv(env), stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (text: string) => stdout += text)
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text)
    child.on("close", (code, signal) => resume(Effect.succeed({ code, signal, stdout, stderr })))
    child.stdin.end(input)
    return Effect.sync(() => child.kill("SIGKILL"))
  })

describe("fastllm run: one run per output (real child processes)", () => {
  it.scopedLive("a second run on the same output fails at once naming the first's pid; a killed run's lock is taken over", () =>
    Effect.gen(function*() {
      // 40 items, one at a time, 200 ms each: the first run is busy for 8 s
      const server = yield* TestServer.make({ apiKey, latency: { minMs: 200 } })
      const dir = yield* tempDir
      const total = 40
      const input = writeLines(dir, "in.jsonl", Array.from({ length: total }, (_, i) => line(`item-${i}`, `q${i}`)))
      const output = path.join(dir, "out.jsonl")
      const args = (model: string) => [
        "run",
        input,
        "-o",
        output,
        "--base-url",
        server.url,
        "--cache",
        path.join(dir, "cache"),
        "--concurrency",
        "1",
        "--model",
        model,
        "-q"
      ]
      const first = yield* start(args("model-a"), { cwd: dir, env })
      yield* waitUntil(() => fs.existsSync(`${output}.partial`))
      const second = yield* run(args("model-b"), { cwd: dir, env })
      assert.strictEqual(second.code, 2, second.stderr)
      assert.include(second.stderr, `in use by another fastllm run (pid ${first.child.pid}`)
      const done = yield* first.finished
      assert.strictEqual(done.code, 0, done.stderr)
      const lines = readLines(output)
      assert.strictEqual(lines.length, total)
      assert.isTrue(lines.every((l) => JSON.stringify(l).includes("model-a")), "only the first run's answers")
      assert.isFalse(fs.existsSync(`${output}.lock`), "released at exit")
      assert.strictEqual((yield* server.stats).requests, total, "the refused run sent nothing")

      // A run killed with SIGKILL leaves its lock behind; the next run sees its pid is gone and takes over.
      fs.rmSync(output)
      const killed = yield* start(args("model-c"), { cwd: dir, env })
      yield* waitUntil(() => fs.existsSync(`${output}.lock`) && fs.existsSync(`${output}.partial`))
      killed.child.kill("SIGKILL")
      yield* killed.finished
      assert.include(fs.readFileSync(`${output}.lock`, "utf8"), `"pid":${killed.child.pid}`)
      const resumed = yield* run(args("model-c"), { cwd: dir, env })
      assert.strictEqual(resumed.code, 0, resumed.stderr)
      assert.strictEqual(readLines(output).length, total)
      assert.isFalse(fs.existsSync(`${output}.lock`))
    }), 90_000)
})

/** A read-only directory: a read-only tmpfs when we may mount (root), else a 0555 directory. */
const readOnlyDirectory = (dir: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const target = path.join(dir, "readonly")
      fs.mkdirSync(target)
      const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", target]).status === 0
      if (!mounted) fs.chmodSync(target, 0o555)
      return { target, expected: mounted ? "read-only file system" : "permission denied" }
    }),
    ({ target }) => Effect.sync(() => void spawnSync("umount", [target]))
  )

describe("fastllm run: set-up is checked before the first request", () => {
  it.scopedLive("unwritable --stats-json, read-only cache, missing output directory: exit 2, nothing sent, no OUTPUT.partial", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [chat("one"), chat("two")])
      const output = path.join(dir, "out.jsonl")
      const readOnly = yield* readOnlyDirectory(dir)
      const base = ["run", input, "-o", output, "--base-url", server.url]
      const [stats, cache, noDir] = yield* Effect.all([
        run([...base, "--cache", path.join(dir, "c1"), "--stats-json", path.join(dir, "no", "such", "s.json")], { cwd: dir, env }),
        run([...base, "--cache", path.join(readOnly.target, "cache")], { cwd: dir, env }),
        run(["run", input, "-o", path.join(dir, "missing", "out.jsonl"), "--base-url", server.url], { cwd: dir, env })
      ], { concurrency: "unbounded" })
      assert.strictEqual(stats.code, 2, stats.stderr)
      assert.include(stats.stderr, "Cannot write stats")
      assert.strictEqual(cache.code, 2, cache.stderr)
      assert.include(cache.stderr, readOnly.expected, cache.stderr)
      assert.notInclude(cache.stderr, "does not exist")
      assert.strictEqual(noDir.code, 2, noDir.stderr)
      assert.include(noDir.stderr, "Cannot write output")
      assert.strictEqual((yield* server.stats).requests, 0, "nothing was sent")
      assert.deepStrictEqual(fs.readdirSync(dir).filter((name) => name.startsWith("out.jsonl")), [], "no .partial, no .lock")
    }), 90_000)
})

describe("fastllm run: messages a person can act on", () => {
  it.scopedLive("flag errors name the flag, typos get a suggestion, --help is plain text with defaults", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [chat("one")])
      const [notInteger, typo, help] = yield* Effect.all([
        run(["run", input, "--concurrency", "abc"], { cwd: dir, env }),
        run(["run", input, "--concurency", "3"], { cwd: dir, env }),
        run(["run", "--help"], { cwd: dir, env })
      ], { concurrency: "unbounded" })
      assert.strictEqual(notInteger.code, 2)
      assert.include(notInteger.stderr, `--concurrency: "abc" is not an integer`)
      assert.strictEqual(typo.code, 2)
      assert.include(typo.stderr, "did you mean --concurrency?")
      assert.strictEqual(help.code, 0, help.stderr)
      assert.notInclude(help.stdout, "\u001b[", "no colour codes when piped")
      assert.include(help.stdout, "Maximum requests in flight (default: 64)")
      assert.include(help.stdout, "resuming after a crash needs the same lines piped in again")
      assert.include(help.stdout, "--header NAME=VALUE")
      assert.notInclude(help.stdout, "--wizard")
      assert.notInclude(help.stdout, "A user-defined piece of text.")
    }), 90_000)

  it.scopedLive("a base URL without /v1 gets one hint; --no-cache never claims answers are cached", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey })
      const broke = yield* TestServer.make({ apiKey, insufficientQuota: true })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [chat("one"), chat("two"), chat("three")])
      const [noV1, noCache, cached] = yield* Effect.all([
        run(["run", input, "--base-url", server.url.replace(/\/v1$/, ""), "--no-cache"], { cwd: dir, env }),
        run(["run", input, "--base-url", broke.url, "--no-cache"], { cwd: dir, env }),
        run(["run", input, "--base-url", broke.url, "--cache", path.join(dir, "cache")], { cwd: dir, env })
      ], { concurrency: "unbounded" })
      assert.strictEqual(noV1.code, 1)
      const hints = noV1.stderr.split("\n").filter((l) => l.includes("does the base URL need /v1?"))
      assert.deepStrictEqual(hints.length, 1, noV1.stderr)
      assert.include(hints[0], "the server answered 404 for /chat/completions")
      assert.strictEqual(noCache.code, 1)
      assert.notMatch(noCache.stderr + noCache.stdout, /are cached/i)
      assert.strictEqual(cached.code, 1)
      assert.include(cached.stderr, "Answered items are cached")
    }), 90_000)

  it.scopedLive("a closed stdout (| head) ends the run quietly, and what was answered stays cached", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey, latency: { minMs: 20 } })
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", Array.from({ length: 60 }, (_, i) => line(`i${i}`, `q${i}`)))
      const cache = path.join(dir, "cache")
      const reader = yield* start(["run", input, "--base-url", server.url, "--cache", cache, "--concurrency", "2", "-q"], {
        cwd: dir,
        env
      })
      yield* waitUntil(() => reader.stdout().includes("\n"))
      reader.child.stdout?.destroy() // what `head -1` does after its line
      const closed = yield* reader.finished
      assert.strictEqual(closed.code, 141)
      // quietly: no EPIPE report, no message of ours (lmdb's native teardown may print a line of its
      // own when the cache closes under an interrupted read: a cache-disk race, reported separately)
      assert.notInclude(closed.stderr, "EPIPE")
      assert.notInclude(closed.stderr, "fastllm:")
      const statsFile = path.join(dir, "stats.json")
      const rerun = yield* run(["run", input, "-o", path.join(dir, "out.jsonl"), "--base-url", server.url, "--cache", cache, "-q", "--stats-json", statsFile], {
        cwd: dir,
        env
      })
      assert.strictEqual(rerun.code, 0, rerun.stderr)
      assert.isAtLeast(readStats(statsFile).cached, 1)
    }), 90_000)
})

describe("fastllm run: input from a pipe, duplicate custom_ids", () => {
  it.scopedLive("`-` and /dev/stdin read standard input; a repeated custom_id is reported once", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey })
      const dir = yield* tempDir
      const text = [line("a", "1"), line("dup", "2"), line("dup", "3"), line("dup", "4")].map((l) => JSON.stringify(l)).join("\n") + "\n"
      const [dash, devStdin] = yield* Effect.all([
        runWithStdin(["run", "-", "-o", path.join(dir, "dash.jsonl"), "--base-url", server.url, "--no-cache"], text, { cwd: dir }),
        runWithStdin(["run", "/dev/stdin", "--base-url", server.url, "--no-cache", "-q"], text, { cwd: dir })
      ], { concurrency: "unbounded" })
      assert.strictEqual(dash.code, 0, dash.stderr)
      assert.deepStrictEqual(
        readLines(path.join(dir, "dash.jsonl")).map((l) => Schema.decodeUnknownSync(Schema.Struct({ custom_id: Schema.String }))(l).custom_id),
        ["a", "dup", "dup", "dup"]
      )
      assert.strictEqual(dash.stderr.split("\n").filter((l) => l.includes("warning: custom_id")).length, 1, dash.stderr)
      assert.include(dash.stderr, `custom_id "dup" is used by line 2 and again by line 3`)
      assert.include(dash.stderr, "2 lines reused an earlier custom_id")
      assert.strictEqual(devStdin.code, 0, devStdin.stderr)
      assert.strictEqual(devStdin.stdout.trim().split("\n").length, 4)
    }), 90_000)
})

describe("fastllm run: networks and gateways", () => {
  it.scopedLive("HTTP_PROXY/NO_PROXY from the environment; Azure endpoint and api-version; --header", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey })
      const azure = yield* TestServer.make({ apiKey: "azure-key-123", azure: true })
      const through = yield* proxy()
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", [chat("one"), chat("two")])
      const [proxied, bypassed, viaAzure, badHeader] = yield* Effect.all([
        run(["run", input, "--base-url", server.url, "--no-cache", "-q", "--concurrency", "1", "--header", "X-Team=search"], {
          cwd: dir,
          env: { ...env, HTTP_PROXY: through.url }
        }),
        run(["run", input, "--base-url", server.url, "--no-cache", "-q", "--concurrency", "1"], {
          cwd: dir,
          env: { ...env, HTTP_PROXY: through.url, NO_PROXY: "127.0.0.1" }
        }),
        run(["run", input, "--azure-endpoint", `http://127.0.0.1:${azure.port}`, "--api-version", "2024-10-21", "--no-cache", "-q"], {
          cwd: dir,
          env: { AZURE_OPENAI_API_KEY: "azure-key-123" }
        }),
        run(["run", input, "--header", "no-equals-sign"], { cwd: dir, env })
      ], { concurrency: "unbounded" })
      assert.strictEqual(proxied.code, 0, proxied.stderr)
      assert.strictEqual(bypassed.code, 0, bypassed.stderr)
      assert.deepStrictEqual(through.seen, [`CONNECT 127.0.0.1:${server.port}`], "one connection, from the proxied run only")
      assert.strictEqual((yield* server.stats).requests, 4)
      assert.strictEqual(viaAzure.code, 0, viaAzure.stderr)
      assert.strictEqual((yield* azure.stats).byPath["/openai/deployments/gpt-4o-mini/chat/completions"], 2)
      assert.strictEqual(badHeader.code, 2)
      assert.include(badHeader.stderr, "--header takes NAME=VALUE")
    }), 90_000)
})
