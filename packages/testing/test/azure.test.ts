import { assert, describe, it } from "@effect/vitest"
import { ChatResponse, Embedding } from "@fastllm/core"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { call, chat, errorOf } from "./helpers.js"

const KEY = "azure-test-key-123456"
const message = { messages: [{ role: "user", content: "hi" }] }

describe("Azure mode", () => {
  it.scopedLive("deployment paths with api-version and the api-key header; the deployment is the model", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ azure: true, apiKey: KEY })
      const endpoint = `http://127.0.0.1:${server.port}/openai`
      const url = `${endpoint}/deployments/my-gpt/chat/completions?api-version=2024-10-21`
      const reply = yield* call(url, { body: message, headers: { "api-key": KEY } })
      assert.strictEqual(reply.status, 200)
      assert.strictEqual((yield* Schema.decodeUnknown(ChatResponse.ChatResponse)(reply.json)).model, "my-gpt")
      const embeddings = yield* call(`${endpoint}/deployments/emb/embeddings?api-version=2024-10-21`, {
        body: { input: "hello" },
        headers: { "api-key": KEY }
      })
      assert.strictEqual(embeddings.status, 200)
      yield* Schema.decodeUnknown(Embedding.EmbeddingResponse)(embeddings.json)
      const v1 = yield* call(`${endpoint}/v1/chat/completions`, { body: chat("hi"), headers: { "api-key": KEY } })
      assert.strictEqual(v1.status, 200)
      const stats = yield* server.stats
      assert.strictEqual(stats.byPath["/openai/deployments/my-gpt/chat/completions"], 1)
    }))

  it.scopedLive("Bearer instead of api-key → 401; missing api-version → 404; unknown → 400; unknown deployment → 404", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ azure: true, apiKey: KEY, models: ["gpt-4o-mini"] })
      const deployment = `http://127.0.0.1:${server.port}/openai/deployments/gpt-4o-mini/chat/completions`
      const bearer = yield* call(`${deployment}?api-version=2024-10-21`, {
        body: message,
        headers: { authorization: `Bearer ${KEY}` }
      })
      assert.strictEqual(bearer.status, 401)
      const noVersion = yield* call(deployment, { body: message, headers: { "api-key": KEY } })
      assert.strictEqual(noVersion.status, 404)
      assert.deepStrictEqual(errorOf(noVersion), { code: "404", message: "Resource not found" })
      const badVersion = yield* call(`${deployment}?api-version=2019-01-01`, { body: message, headers: { "api-key": KEY } })
      assert.strictEqual(badVersion.status, 400)
      assert.deepStrictEqual(errorOf(badVersion), { code: "BadRequest", message: "API version not supported" })
      const other = yield* call(
        `http://127.0.0.1:${server.port}/openai/deployments/nope/chat/completions?api-version=2024-10-21`,
        { body: message, headers: { "api-key": KEY } }
      )
      assert.strictEqual(other.status, 404)
      assert.strictEqual(errorOf(other)?.["code"], "DeploymentNotFound")
    }))

  it.scopedLive("without azure: the Azure paths are unknown URLs", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make()
      const reply = yield* call(
        `http://127.0.0.1:${server.port}/openai/deployments/x/chat/completions?api-version=2024-10-21`,
        { body: message }
      )
      assert.strictEqual(reply.status, 404)
      assert.match(String(errorOf(reply)?.["message"]), /^Invalid URL/)
    }))
})
