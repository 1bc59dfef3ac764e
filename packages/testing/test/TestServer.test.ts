import { assert, describe, it, layer } from "@effect/vitest"
import { ChatResponse, Embedding, RateLimitHeaders } from "@fastllm/core"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import { call, chat, errorOf, header } from "./helpers.js"

const decodeChat = Schema.decodeUnknown(ChatResponse.ChatResponse)
const decodeEmbeddings = Schema.decodeUnknown(Embedding.EmbeddingResponse)

layer(TestServer.layer())("replies", (it) => {
  it.effect("chat completion: OpenAI shape, echo content, usage from ceil(chars / 4)", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const reply = yield* call(`${server.url}/chat/completions`, {
        body: {
          model: "gpt-4o-mini",
          messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hello, server!" }]
        }
      })
      assert.strictEqual(reply.status, 200)
      assert.strictEqual(header(reply, "content-type"), "application/json")
      const response = yield* decodeChat(reply.json)
      assert.strictEqual(response.object, "chat.completion")
      assert.strictEqual(response.model, "gpt-4o-mini")
      assert.match(response.id, /^chatcmpl-[0-9a-f]{24}$/)
      assert.strictEqual(response.choices.length, 1)
      const choice = response.choices[0]!
      assert.strictEqual(choice.message.role, "assistant")
      assert.match(choice.message.content ?? "", /^Echo: Hello, server! \([0-9a-f]{8}\)$/)
      assert.strictEqual(choice.finish_reason, "stop")
      const content = choice.message.content ?? ""
      assert.deepStrictEqual(response.usage?.prompt_tokens, Math.ceil(("Be brief.".length + "Hello, server!".length) / 4))
      assert.strictEqual(response.usage?.completion_tokens, Math.ceil(content.length / 4))
      assert.strictEqual(response.usage?.total_tokens, response.usage!.prompt_tokens + response.usage!.completion_tokens!)
    }))

  it.effect("chat completion is deterministic, honours n and truncates at max_tokens", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const url = `${server.url}/chat/completions`
      const first = yield* decodeChat((yield* call(url, { body: chat("same question") })).json)
      const second = yield* decodeChat((yield* call(url, { body: chat("same question") })).json)
      const other = yield* decodeChat((yield* call(url, { body: chat("another question") })).json)
      assert.strictEqual(ChatResponse.text(first), ChatResponse.text(second))
      assert.strictEqual(first.id, second.id)
      assert.notStrictEqual(ChatResponse.text(first), ChatResponse.text(other))

      const many = yield* decodeChat((yield* call(url, { body: chat("pick three", { n: 3 }) })).json)
      assert.deepStrictEqual(many.choices.map((choice) => choice.index), [0, 1, 2])
      assert.strictEqual(new Set(many.choices.map((choice) => choice.message.content)).size, 3)

      const short = yield* decodeChat(
        (yield* call(url, { body: chat("a long enough message to be cut", { max_completion_tokens: 2 }) })).json
      )
      assert.strictEqual(short.choices[0]!.finish_reason, "length")
      assert.strictEqual(short.choices[0]!.message.content, "Echo: a ")
      assert.strictEqual(short.usage?.completion_tokens, 2)
      const legacy = yield* decodeChat((yield* call(url, { body: chat("cut me too", { max_tokens: 1 }) })).json)
      assert.strictEqual(legacy.choices[0]!.message.content, "Echo")
    }))

  it.effect("embeddings: deterministic unit vectors, dimensions, base64, token arrays", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const url = `${server.url}/embeddings`
      const reply = yield* call(url, { body: { model: "text-embedding-3-small", input: ["alpha", "beta!"] } })
      assert.strictEqual(reply.status, 200)
      const response = yield* decodeEmbeddings(reply.json)
      assert.strictEqual(response.object, "list")
      assert.deepStrictEqual(response.usage, { prompt_tokens: 2 + 2, total_tokens: 4 })
      const vectors = Embedding.vectors(response)
      assert.strictEqual(vectors.length, 2)
      for (const vector of vectors) {
        assert.strictEqual(vector.length, 8)
        const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0))
        assert.closeTo(norm, 1, 1e-5)
      }
      assert.notDeepEqual(vectors[0], vectors[1])

      const wide = yield* decodeEmbeddings(
        (yield* call(url, { body: { model: "m", input: "alpha", dimensions: 32, encoding_format: "base64" } })).json
      )
      assert.isString(wide.data[0]!.embedding)
      const wideVector = Embedding.vectors(wide)[0]!
      assert.strictEqual(wideVector.length, 32)
      const again = yield* decodeEmbeddings((yield* call(url, { body: { model: "m", input: "alpha", dimensions: 32 } })).json)
      assert.deepStrictEqual(Embedding.vectors(again)[0], wideVector)

      const tokens = yield* decodeEmbeddings((yield* call(url, { body: { model: "m", input: [[1, 2, 3], [4]] } })).json)
      assert.strictEqual(tokens.data.length, 2)
      assert.deepStrictEqual(tokens.usage, { prompt_tokens: 4, total_tokens: 4 })
    }))

  it.effect("GET /v1/models lists models; /v1/models/{id} returns one", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const list = yield* call(`${server.url}/models`)
      assert.strictEqual(list.status, 200)
      const decoded = yield* Schema.decodeUnknown(Schema.Struct({
        object: Schema.Literal("list"),
        data: Schema.Array(Schema.Struct({
          id: Schema.String,
          object: Schema.Literal("model"),
          created: Schema.Number,
          owned_by: Schema.String
        }))
      }))(list.json)
      assert.isTrue(decoded.data.some((model) => model.id === "gpt-4o-mini"))
      const one = yield* call(`${server.url}/models/gpt-4o-mini`)
      assert.strictEqual(one.status, 200)
    }))

  it.effect("400 invalid_request_error bodies like OpenAI's", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.TestServer
      const url = `${server.url}/chat/completions`
      const cases: ReadonlyArray<readonly [unknown, string | null, string | null]> = [
        [{ messages: [{ role: "user", content: "x" }] }, null, null],
        [{ model: "gpt-4o-mini" }, "messages", "missing_required_parameter"],
        [{ model: 42, messages: [{ role: "user", content: "x" }] }, "model", "invalid_type"],
        [{ model: "gpt-4o-mini", messages: "hello" }, "messages", "invalid_type"],
        [{ model: "gpt-4o-mini", messages: [] }, "messages", "empty_array"],
        [{ model: "gpt-4o-mini", messages: [{ role: "robot", content: "x" }] }, "messages[0].role", "invalid_value"],
        [{ model: "gpt-4o-mini", messages: [{ role: "user" }] }, "messages[0].content", "missing_required_parameter"],
        [chat("x", { max_tokens: "10" }), "max_tokens", "invalid_type"],
        [chat("x", { temperature: 3 }), "temperature", "decimal_above_max_value"],
        [chat("x", { n: 0 }), "n", "integer_below_min_value"]
      ]
      for (const [body, param, code] of cases) {
        const reply = yield* call(url, { body })
        assert.strictEqual(reply.status, 400, JSON.stringify(body))
        const error = errorOf(reply)
        assert.deepStrictEqual(Object.keys(error ?? {}).sort(), ["code", "message", "param", "type"])
        assert.strictEqual(error?.["type"], "invalid_request_error")
        assert.strictEqual(error?.["param"], param, JSON.stringify(body))
        assert.strictEqual(error?.["code"], code, JSON.stringify(body))
        assert.isString(error?.["message"])
      }
      const notJson = yield* call(url, { rawBody: "{not json" })
      assert.strictEqual(notJson.status, 400)
      assert.match(String(errorOf(notJson)?.["message"]), /could not parse the JSON body/)
      const badInput = yield* call(`${server.url}/embeddings`, { body: { model: "m", input: [1, "a"] } })
      assert.strictEqual(badInput.status, 400)
      assert.strictEqual(errorOf(badInput)?.["param"], "input")
      const unknownPath = yield* call(`${server.url}/completions`, { body: chat("x") })
      assert.strictEqual(unknownPath.status, 404)
      assert.strictEqual(errorOf(unknownPath)?.["message"], "Invalid URL (POST /v1/completions)")
    }))
})

describe("TestServer", () => {
  it.scopedLive("401 when a key is required; 404 model_not_found for unknown models", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey: "sk-test-key-123456", models: ["only-model"] })
      const url = `${server.url}/chat/completions`
      const missing = yield* call(url, { body: chat("x") })
      assert.strictEqual(missing.status, 401)
      assert.strictEqual(errorOf(missing)?.["type"], "invalid_request_error")
      const wrong = yield* call(url, { body: chat("x"), headers: { authorization: "Bearer sk-wrong-key-000000" } })
      assert.strictEqual(wrong.status, 401)
      assert.strictEqual(errorOf(wrong)?.["code"], "invalid_api_key")
      assert.notInclude(String(errorOf(wrong)?.["message"]), "sk-wrong-key-000000")
      const auth = { authorization: "Bearer sk-test-key-123456" }
      const unknown = yield* call(url, { body: chat("x"), headers: auth })
      assert.strictEqual(unknown.status, 404)
      assert.strictEqual(errorOf(unknown)?.["code"], "model_not_found")
      const ok = yield* call(url, { body: { model: "only-model", messages: [{ role: "user", content: "x" }] }, headers: auth })
      assert.strictEqual(ok.status, 200)
      const models = yield* call(`${server.url}/models`, { headers: auth })
      assert.deepStrictEqual(models.json, {
        object: "list",
        data: [{ id: "only-model", object: "model", created: 1_700_000_000, owned_by: "fastllm-testing" }]
      })
      const stats = yield* server.stats
      assert.deepStrictEqual(stats.byStatus, { 200: 2, 401: 2, 404: 1 })
    }))

  it.scopedLive("requests-per-minute bucket: headers on every response, then 429 with retry-after", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ requestsPerMinute: 3 })
      const url = `${server.url}/chat/completions`
      const remaining: Array<number | undefined> = []
      for (let i = 0; i < 3; i++) {
        const reply = yield* call(url, { body: chat(`r${i}`) })
        assert.strictEqual(reply.status, 200)
        const info = RateLimitHeaders.parse(reply.headers)
        assert.strictEqual(info?.limitRequests, 3)
        remaining.push(info?.remainingRequests)
        assert.isDefined(header(reply, "x-ratelimit-reset-requests"))
      }
      assert.deepStrictEqual(remaining, [2, 1, 0])
      const refused = yield* call(url, { body: chat("r3") })
      assert.strictEqual(refused.status, 429)
      const error = errorOf(refused)
      assert.strictEqual(error?.["code"], "rate_limit_exceeded")
      assert.strictEqual(error?.["type"], "requests")
      const retryAfterMs = Number(header(refused, "retry-after-ms"))
      // one request comes back every 60 s / 3 = 20 s
      assert.isAbove(retryAfterMs, 15_000)
      assert.isAtMost(retryAfterMs, 20_000)
      assert.strictEqual(header(refused, "retry-after"), String(Math.ceil(retryAfterMs / 1000)))
      assert.strictEqual(RateLimitHeaders.parse(refused.headers)?.remainingRequests, 0)
      assert.match(header(refused, "x-ratelimit-reset-requests") ?? "", /^\d+(\.\d+)?s$/)
      // headers on every response, errors and GETs too, without taking from the buckets
      const badRequest = yield* call(url, { body: { model: "m" } })
      assert.strictEqual(badRequest.status, 400)
      assert.deepStrictEqual(RateLimitHeaders.parse(badRequest.headers)?.limitRequests, 3)
      const models = yield* call(`${server.url}/models`)
      assert.strictEqual(models.status, 200)
      assert.strictEqual(RateLimitHeaders.parse(models.headers)?.remainingRequests, 0)
      const stats = yield* server.stats
      assert.strictEqual(stats.rateLimited, 1)
      assert.strictEqual(stats.byStatus[429], 1)
    }))

  it.scopedLive("tokens-per-minute bucket charges prompt + max tokens", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ tokensPerMinute: 100, defaultOutputTokens: 10 })
      const url = `${server.url}/chat/completions`
      // "abcd" is 1 prompt token; 1 + 80 = 81 tokens
      const first = yield* call(url, { body: chat("abcd", { max_tokens: 80 }) })
      assert.strictEqual(first.status, 200)
      assert.strictEqual(RateLimitHeaders.parse(first.headers)?.remainingTokens, 19)
      assert.isUndefined(header(first, "x-ratelimit-limit-requests"))
      const second = yield* call(url, { body: chat("abcd", { max_tokens: 80 }) })
      assert.strictEqual(second.status, 429)
      assert.strictEqual(errorOf(second)?.["type"], "tokens")
      assert.match(String(errorOf(second)?.["message"]), /^Rate limit reached .* Limit 100, Used 81, Requested 81\./)
      const huge = yield* call(url, { body: chat("abcd", { max_tokens: 500 }) })
      assert.strictEqual(huge.status, 429)
      assert.match(String(errorOf(huge)?.["message"]), /^Request too large/)
      // without max tokens a request costs 1 + defaultOutputTokens = 11
      const third = yield* call(url, { body: chat("abcd") })
      assert.strictEqual(third.status, 200)
      assert.strictEqual(RateLimitHeaders.parse(third.headers)?.remainingTokens, 8)
    }))

  it.scopedLive("insufficient_quota and configure() while running", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const url = `${server.url}/chat/completions`
      const before = yield* call(url, { body: chat("x") })
      assert.strictEqual(before.status, 200)
      assert.isUndefined(RateLimitHeaders.parse(before.headers))
      yield* server.configure({ insufficientQuota: true })
      const quota = yield* call(url, { body: chat("x") })
      assert.strictEqual(quota.status, 429)
      assert.strictEqual(errorOf(quota)?.["code"], "insufficient_quota")
      assert.strictEqual(errorOf(quota)?.["type"], "insufficient_quota")
      yield* server.configure({ insufficientQuota: false, requestsPerMinute: 10, apiKey: "k" })
      const unauthorized = yield* call(url, { body: chat("x") })
      assert.strictEqual(unauthorized.status, 401)
      const limited = yield* call(url, { body: chat("x"), headers: { authorization: "Bearer k" } })
      assert.strictEqual(limited.status, 200)
      assert.strictEqual(RateLimitHeaders.parse(limited.headers)?.remainingRequests, 9)
    }))

  it.scopedLive("stats: per-body-hash counts, reset", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const url = `${server.url}/chat/completions`
      const bodies = [chat("a"), chat("a"), chat("b"), chat("a"), chat("c")]
      const replies = yield* Effect.forEach(bodies, (body) => call(url, { body }), { concurrency: "unbounded" })
      assert.deepStrictEqual(replies.map((reply) => reply.status), [200, 200, 200, 200, 200])
      const stats = yield* server.stats
      assert.strictEqual(stats.requests, 5)
      assert.strictEqual(stats.inFlight, 0)
      const hash = (body: unknown) => createHash("sha256").update(JSON.stringify(body)).digest("hex")
      assert.strictEqual(stats.byBodyHash.get(hash(chat("a"))), 3)
      assert.strictEqual(stats.byBodyHash.get(hash(chat("b"))), 1)
      assert.strictEqual(stats.byBodyHash.size, 3)
      assert.deepStrictEqual(stats.byPath, { "/v1/chat/completions": 5 })
      assert.deepStrictEqual(stats.byStatus, { 200: 5 })
      yield* server.reset
      const zero = yield* server.stats
      assert.strictEqual(zero.requests, 0)
      assert.strictEqual(zero.maxConcurrent, 0)
      assert.strictEqual(zero.byBodyHash.size, 0)
      assert.deepStrictEqual(zero.byStatus, {})
    }))

  it.scopedLive("stats: in flight and maximum concurrency", () =>
    Effect.gen(function*() {
      // hanging requests stay in flight until the client aborts them: no timing involved
      const server = yield* TestServer.make({ faults: { hang: 1 } })
      const waitFor = (predicate: (stats: TestServer.ServerStats) => boolean) =>
        Effect.gen(function*() {
          while (true) {
            const stats = yield* server.stats
            if (predicate(stats)) return stats
            yield* Effect.sleep("5 millis")
          }
        }).pipe(Effect.timeout("5 seconds"))
      const fibers = yield* Effect.forEach(
        [1, 2, 3, 4, 5],
        (i) => Effect.fork(call(`${server.url}/chat/completions`, { body: chat(`c${i}`), timeoutMs: 10_000 })),
      )
      yield* waitFor((stats) => stats.inFlight === 5)
      yield* Effect.forEach(fibers, Fiber.interrupt)
      const after = yield* waitFor((stats) => stats.inFlight === 0)
      assert.strictEqual(after.maxConcurrent, 5)
      assert.strictEqual(after.faults.hang, 5)
      yield* server.reset
      assert.strictEqual((yield* server.stats).maxConcurrent, 0)
    }))

  it.scopedLive("latency: fixed minimum, per output token", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ latency: { minMs: 50, maxMs: 80, perOutputTokenMs: 10 } })
      const start = performance.now()
      const reply = yield* call(`${server.url}/chat/completions`, { body: chat("latency") })
      const elapsed = performance.now() - start
      const response = yield* decodeChat(reply.json)
      // at least minMs + 10 ms per completion token
      assert.isAtLeast(elapsed, 50 + 10 * response.usage!.completion_tokens! - 2)
      const error = yield* call(`${server.url}/chat/completions`, { body: { model: "m" } })
      assert.strictEqual(error.status, 400)
    }))
})

describe("faults", () => {
  const statusSequence = (seed: number) =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { seed, serverError: 0.5 } })
      const statuses: Array<number> = []
      for (let i = 0; i < 20; i++) {
        statuses.push((yield* call(`${server.url}/chat/completions`, { body: chat(`q${i}`) })).status)
      }
      return { statuses, stats: yield* server.stats }
    })

  it.scopedLive("serverError: 500/502/503 with server_error bodies, reproducible from the seed", () =>
    Effect.gen(function*() {
      const first = yield* statusSequence(42)
      const second = yield* statusSequence(42)
      assert.deepStrictEqual(first.statuses, second.statuses)
      const failures = first.statuses.filter((status) => status !== 200)
      assert.isAbove(failures.length, 0)
      assert.isBelow(failures.length, 20)
      for (const status of failures) assert.include([500, 502, 503], status)
      assert.strictEqual(first.stats.faults.serverError, failures.length)
      const server = yield* TestServer.make({ faults: { serverError: 1 } })
      const reply = yield* call(`${server.url}/chat/completions`, { body: chat("x") })
      assert.strictEqual(errorOf(reply)?.["type"], "server_error")
    }))

  it.scopedLive("rateLimit: 429 rate_limit_exceeded with retry-after-ms in range; burst refuses until it passes", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { rateLimit: 1, retryAfterMs: [1500, 2500], burst: true } })
      const url = `${server.url}/chat/completions`
      const reply = yield* call(url, { body: chat("x") })
      assert.strictEqual(reply.status, 429)
      assert.strictEqual(errorOf(reply)?.["code"], "rate_limit_exceeded")
      const wait = Number(header(reply, "retry-after-ms"))
      assert.isAtLeast(wait, 1500)
      assert.isAtMost(wait, 2500)
      assert.strictEqual(header(reply, "retry-after"), String(Math.ceil(wait / 1000)))
      yield* server.configure({ faults: {} })
      const during = yield* call(url, { body: chat("y") })
      assert.strictEqual(during.status, 429)
      const stats = yield* server.stats
      assert.strictEqual(stats.faults.rateLimit, 1)
      assert.strictEqual(stats.rateLimited, 2)
    }))

  it.scopedLive("reset destroys the socket", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { seed: 1, reset: 1 } })
      const result = yield* Effect.either(call(`${server.url}/chat/completions`, { body: chat("x") }))
      assert.isTrue(Either.isLeft(result))
      const stats = yield* server.stats
      assert.strictEqual(stats.faults.reset, 1)
      assert.deepStrictEqual(stats.byStatus, {})
    }))

  it.scopedLive("hang never answers; the request stays in flight until the client gives up", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { hang: 1 } })
      const pending = yield* Effect.fork(call(`${server.url}/chat/completions`, { body: chat("x"), timeoutMs: 300 }))
      yield* Effect.sleep("100 millis")
      assert.strictEqual((yield* server.stats).inFlight, 1)
      const result = yield* Effect.either(pending.await.pipe(Effect.flatten))
      assert.isTrue(Either.isLeft(result))
      assert.strictEqual((yield* server.stats).faults.hang, 1)
    }))

  it.live("closing the scope ends hung requests and stops listening", () =>
    Effect.gen(function*() {
      const { pending, url } = yield* Effect.scoped(Effect.gen(function*() {
        const server = yield* TestServer.make({ faults: { hang: 1 } })
        const pending = yield* Effect.forkDaemon(
          call(`${server.url}/chat/completions`, { body: chat("x"), timeoutMs: 60_000 })
        )
        while ((yield* server.stats).inFlight === 0) yield* Effect.sleep("5 millis")
        return { pending, url: server.url }
      }))
      const result = yield* Effect.either(Fiber.join(pending)).pipe(Effect.timeout("5 seconds"))
      assert.isTrue(Either.isLeft(result))
      assert.isTrue(Either.isLeft(yield* Effect.either(call(`${url}/models`))))
    }))

  it.scopedLive("slowBody sends a valid body in several chunks", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { slowBody: 1, slowBodyMs: 80 } })
      const reply = yield* call(`${server.url}/chat/completions`, { body: chat("slow") })
      assert.strictEqual(reply.status, 200)
      assert.isAtLeast(reply.chunks, 2)
      const response = yield* decodeChat(reply.json)
      assert.match(ChatResponse.text(response) ?? "", /^Echo: slow/)
    }))

  it.scopedLive("malformed sends 200 with a body that is not JSON", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { malformed: 1 } })
      const reply = yield* call(`${server.url}/chat/completions`, { body: chat("x") })
      assert.strictEqual(reply.status, 200)
      assert.strictEqual(header(reply, "content-type"), "application/json")
      assert.isAbove(reply.text.length, 0)
      assert.isUndefined(reply.json)
    }))

  it.scopedLive("truncated announces the full length, sends half, and closes", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { truncated: 1 } })
      const result = yield* Effect.either(call(`${server.url}/embeddings`, { body: { model: "m", input: "x" } }))
      assert.isTrue(Either.isLeft(result))
      assert.strictEqual((yield* server.stats).faults.truncated, 1)
    }))

  it.scopedLive("faults apply to chat and embeddings only", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ faults: { serverError: 1 } })
      const models = yield* call(`${server.url}/models`)
      assert.strictEqual(models.status, 200)
    }))
})
