import { assert, describe, it } from "@effect/vitest"
import { RateLimitHeaders } from "@fastllm/core"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { call, chat } from "./helpers.js"

const bin = fileURLToPath(new URL("../src/bin.ts", import.meta.url))

describe("parseArgs", () => {
  it("reads every flag into Options", () => {
    const parsed = TestServer.parseArgs([
      "--port",
      "0",
      "--latency",
      "20",
      "--latency-max=40",
      "--latency-per-token",
      "1.5",
      "--rpm",
      "3000",
      "--tpm",
      "90000",
      "--api-key",
      "sk-x",
      "--models",
      "a, b",
      "--seed",
      "7",
      "--server-error",
      "0.1",
      "--rate-limit",
      "0.05",
      "--retry-after",
      "10,30",
      "--burst",
      "--hang",
      "0.01",
      "--insufficient-quota",
      "--dimensions",
      "16"
    ])
    assert.deepStrictEqual(
      parsed,
      Either.right({
        port: 0,
        latency: { minMs: 20, maxMs: 40, perOutputTokenMs: 1.5 },
        requestsPerMinute: 3000,
        tokensPerMinute: 90000,
        apiKey: "sk-x",
        models: ["a", "b"],
        faults: { seed: 7, serverError: 0.1, rateLimit: 0.05, retryAfterMs: [10, 30], burst: true, hang: 0.01 },
        insufficientQuota: true,
        embeddingDimensions: 16
      })
    )
  })

  it("rejects unknown flags and bad values with a message", () => {
    assert.isTrue(Either.isLeft(TestServer.parseArgs(["--nope"])))
    const badShare = TestServer.parseArgs(["--reset", "2"])
    assert.isTrue(Either.isLeft(badShare) && badShare.left.includes("--reset"))
    assert.isTrue(Either.isLeft(TestServer.parseArgs(["--rpm"])))
    assert.isTrue(Either.isLeft(TestServer.parseArgs(["--latency", "abc"])))
  })
})

describe("entry points", () => {
  it.live("TestServer.start: Promise API for scripts", () =>
    Effect.gen(function*() {
      const server = yield* Effect.promise(() => TestServer.start({ requestsPerMinute: 5 }))
      const reply = yield* call(`${server.url}/chat/completions`, { body: chat("x") })
      assert.strictEqual(reply.status, 200)
      assert.strictEqual(RateLimitHeaders.parse(reply.headers)?.remainingRequests, 4)
      assert.strictEqual(server.stats().requests, 1)
      server.configure({ insufficientQuota: true })
      assert.strictEqual((yield* call(`${server.url}/chat/completions`, { body: chat("x") })).status, 429)
      server.reset()
      assert.strictEqual(server.stats().requests, 0)
      yield* Effect.promise(() => server.close())
      const after = yield* Effect.either(call(`${server.url}/models`))
      assert.isTrue(Either.isLeft(after))
    }))

  it.live("bin.ts prints one JSON line, serves, and exits on SIGTERM", () =>
    Effect.gen(function*() {
      const child = spawn(process.execPath, ["--import", "tsx", bin, "--port", "0", "--rpm", "60"], {
        stdio: ["ignore", "pipe", "pipe"]
      })
      const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      const line = yield* Effect.promise(() =>
        new Promise<string>((resolve) => createInterface({ input: child.stdout }).once("line", resolve))
      ).pipe(Effect.timeout("20 seconds"))
      const announced = yield* Schema.decodeUnknown(Schema.parseJson(Schema.Struct({ url: Schema.String, port: Schema.Int })))(
        line
      )
      assert.match(announced.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/)
      assert.strictEqual(announced.url, `http://127.0.0.1:${announced.port}/v1`)
      const reply = yield* call(`${announced.url}/chat/completions`, { body: chat("from a child") })
      assert.strictEqual(reply.status, 200)
      assert.strictEqual(RateLimitHeaders.parse(reply.headers)?.limitRequests, 60)
      child.kill("SIGTERM")
      const code = yield* Effect.promise(() => exited).pipe(Effect.timeout("10 seconds"))
      assert.strictEqual(code, 0)
      const after = yield* Effect.either(call(`${announced.url}/models`))
      assert.isTrue(Either.isLeft(after))
    }), 30_000)
})
