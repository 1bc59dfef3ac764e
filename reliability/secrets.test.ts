/**
 * Secrets: a recognisable fake key, servers that fail in every way (401, 5xx, resets, hangs past the
 * timeout, malformed bodies); then logs, outputs, stats, cache files and every error's message,
 * string, JSON and inspection are searched: the key appears nowhere.
 */
import { assert, describe, it } from "@effect/vitest"
import { Cache, RequestManager } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as fs from "node:fs"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as path from "node:path"
import { inspect } from "node:util"
import { batchLine, chat, run, tempDir, writeLines } from "./fixtures/cli.js"

// Recognisable, and random per run so that no file can contain it by accident.
const secretPart = `CANARY${Math.random().toString(36).slice(2, 12)}${Date.now().toString(36)}`
const apiKey = `sk-proj-${secretPart}`

/** Every place the key must not be: the whole key and its random part. */
const assertNoKey = (where: string, text: string) => {
  assert.notInclude(text, apiKey, `the API key leaked into ${where}`)
  assert.notInclude(text, secretPart, `part of the API key leaked into ${where}`)
}

/** All files under `dir`, as latin1 text (binary files included: LMDB pages hold raw bytes). */
const filesUnder = (dir: string): Array<readonly [string, string]> =>
  fs.readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => {
      const file = path.join(entry.parentPath, entry.name)
      return [file, fs.readFileSync(file).toString("latin1")] as const
    })

/**
 * A badly behaved server (a misconfigured proxy, say) that echoes the request's Authorization header
 * in its error body: the client must not pass the key on into its errors.
 */
const echoingServer = Effect.acquireRelease(
  Effect.async<http.Server>((resume) => {
    const server = http.createServer((request, response) => {
      request.resume()
      request.on("end", () => {
        const status = request.url?.includes("embeddings") === true ? 500 : 400
        response.writeHead(status, { "content-type": "application/json" })
        response.end(JSON.stringify({
          error: { message: `rejected header: ${request.headers.authorization}`, type: "invalid_request_error", param: null, code: null }
        }))
      })
    })
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map((server) => {
  const address: string | AddressInfo | null = server.address()
  return { url: `http://127.0.0.1:${typeof address === "object" && address !== null ? address.port : 0}/v1` }
}))

const failingServers = Effect.all({
  wrongKey: TestServer.make({ apiKey: "sk-the-server-wants-another-key" }),
  faulty: TestServer.make({
    faults: { seed: 3, serverError: 0.3, reset: 0.1, hang: 0.05, malformed: 0.15, rateLimit: 0.1, retryAfterMs: [10, 30] }
  })
})

describe("secrets never leak", () => {
  it.scopedLive("library: errors, their causes and every log line are free of the key", () =>
    Effect.gen(function*() {
      const servers = yield* failingServers
      const logged: Array<string> = []
      const capture = Logger.make(({ cause, logLevel, message }) => {
        logged.push(`${logLevel.label} ${inspect(message, { depth: 10 })} ${Cause.pretty(cause)}`)
      })
      const echoing = yield* echoingServer
      for (const server of [servers.wrongKey, servers.faulty, echoing]) {
        const context = yield* Layer.build(
          Layer.merge(OpenAiProvider.layer({ apiKey: Redacted.make(apiKey), baseUrl: server.url }), Cache.memory())
        )
        const manager = yield* RequestManager.make({
          concurrency: 16,
          // short only where the server hangs on purpose: a loaded CI machine can take 300 ms to answer a 401
          timeout: server === servers.faulty ? "300 millis" : "10 seconds",
          maxRetries: 1,
          retrySchedule: Schedule.spaced("10 millis")
        }).pipe(Effect.provide(context))
        const { results } = yield* manager.run(
          Array.from({ length: 60 }, (_, i) => chat(`secret test ${i}`))
        ).pipe(
          Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
          Logger.withMinimumLogLevel(LogLevel.All)
        )
        const failures = results.filter((result) => result._tag === "Failure")
        assert.isAbove(failures.length, 0)
        for (const failure of failures) {
          const error = failure.error
          assertNoKey(`${error._tag}.message`, error.message)
          assertNoKey(`String(${error._tag})`, String(error))
          assertNoKey(`JSON of ${error._tag}`, JSON.stringify(error))
          assertNoKey(`inspect(${error._tag})`, inspect(error, { depth: 20, showHidden: true }))
          assertNoKey(`the cause of ${error._tag}`, Cause.pretty(Cause.fail(error)))
        }
        const kinds = new Set(failures.map((failure) => failure.error._tag))
        if (server === servers.wrongKey || server === echoing) assert.deepStrictEqual([...kinds], ["ApiError"])
        if (server === echoing) assert.include(failures[0]?.error.message ?? "", "rejected header: Bearer ")
      }
      for (const line of logged) assertNoKey("a log line", line)
    }), { timeout: 30_000 })

  it.scopedLive("CLI: stdout, stderr, the output, the stats and the cache files are free of the key", () =>
    Effect.gen(function*() {
      const servers = yield* failingServers
      const dir = yield* tempDir
      const input = writeLines(dir, "in.jsonl", Array.from({ length: 40 }, (_, i) => batchLine(`s-${i}`, chat(`secret cli ${i}`))))
      for (const [name, server] of Object.entries(servers)) {
        const output = path.join(dir, `${name}.out.jsonl`)
        const finished = yield* run(
          ["run", input, "-o", output, "--base-url", server.url, "--cache", path.join(dir, "cache"), "--timeout", "300ms",
            "--retries", "1", "--progress", "log", "--stats-json", path.join(dir, `${name}.stats.json`)],
          { cwd: dir, env: { OPENAI_API_KEY: apiKey } }
        )
        assert.strictEqual(finished.code, 1, finished.stderr)
        assertNoKey(`stdout (${name})`, finished.stdout)
        assertNoKey(`stderr (${name})`, finished.stderr)
        assert.include(fs.readFileSync(output, "utf8"), "\"error\":{")
      }
      const files = filesUnder(dir)
      assert.isTrue(files.some(([file]) => file.endsWith("cache.mdb")), "the cache was written")
      for (const [file, text] of files) {
        if (file.endsWith("in.jsonl")) continue
        assertNoKey(path.relative(dir, file), text)
      }
    }), { timeout: 40_000 })
})
