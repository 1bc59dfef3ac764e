import { assert, describe, it } from "@effect/vitest"
import { ChatRequest, Embedding, Provider } from "@fastllm/core"
import { OpenAiConfig, OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { chatBody, json, serve } from "./fixtures/httpServer.js"

const withEnv = (env: Record<string, string>) => Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
const readWith = <A>(config: Config.Config<A>, env: Record<string, string>) =>
  Effect.withConfigProvider(config, ConfigProvider.fromMap(new Map(Object.entries(env))))

const chat = Schema.decodeUnknownSync(ChatRequest.ChatRequest)({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: "hi" }]
})
const embeddingBody = { object: "list", model: "e", data: [{ object: "embedding", index: 0, embedding: [0.5] }] }

describe("OpenAiConfig (the one reader of the environment)", () => {
  it.effect("reads OpenAI's variables; blank counts as unset; a malformed one is a ConfigError naming it", () =>
    Effect.gen(function*() {
      const settings = yield* readWith(OpenAiConfig.settings, {
        OPENAI_API_KEY: "sk-1",
        OPENAI_BASE_URL: "http://127.0.0.1:9/v1",
        OPENAI_ORG_ID: " ",
        OPENAI_TIMEOUT: "5 seconds"
      })
      assert.strictEqual(Redacted.value(settings.apiKey!), "sk-1")
      assert.strictEqual(settings.baseUrl, "http://127.0.0.1:9/v1")
      assert.isUndefined(settings.organization)
      assert.isUndefined(settings.azure)
      const error = yield* Effect.flip(readWith(OpenAiConfig.settings, { OPENAI_TIMEOUT: "soon" }))
      assert.include(String(error), "OPENAI_TIMEOUT")
    }))

  it.effect("Azure: AZURE_OPENAI_ENDPOINT/AZURE_OPENAI_API_KEY/OPENAI_API_VERSION as the openai SDK reads them", () =>
    Effect.gen(function*() {
      const azure = yield* readWith(OpenAiConfig.settings, {
        OPENAI_API_KEY: "sk-openai-not-used",
        AZURE_OPENAI_API_KEY: "azure-key",
        AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com/",
        OPENAI_API_VERSION: "2024-10-21"
      })
      assert.strictEqual(Redacted.value(azure.apiKey!), "azure-key")
      assert.strictEqual(azure.baseUrl, "https://res.openai.azure.com/openai")
      assert.deepStrictEqual(azure.azure, { apiVersion: "2024-10-21" })
      // Azure's v1 API needs no api-version
      const v1 = yield* readWith(OpenAiConfig.settings, {
        AZURE_OPENAI_API_KEY: "azure-key",
        OPENAI_BASE_URL: "https://res.openai.azure.com/openai/v1"
      })
      assert.deepStrictEqual(v1.azure, { apiVersion: undefined })
      const noVersion = yield* Effect.flip(
        readWith(OpenAiConfig.settings, { AZURE_OPENAI_API_KEY: "k", AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com" })
      )
      assert.include(String(noVersion), "OPENAI_API_VERSION")
      const noKey = yield* Effect.flip(
        readWith(OpenAiConfig.settings, { AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com", OPENAI_API_VERSION: "v" })
      )
      assert.include(String(noKey), "AZURE_OPENAI_API_KEY")
      assert.notInclude(String(noKey), "sk-")
    }))
})

describe("OpenAiProvider.layerConfig with Config.Config.Wrap", () => {
  it.scopedLive("options given as Configs win; the rest comes from the environment", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => json(res, 200, chatBody()))
      const layer = OpenAiProvider.layerConfig({
        apiKey: Config.redacted("MY_GATEWAY_KEY"),
        headers: Config.succeed({ "x-team": "search" })
      }).pipe(Layer.provide(withEnv({ MY_GATEWAY_KEY: "gw-123", OPENAI_API_KEY: "sk-env", OPENAI_BASE_URL: server.baseUrl })))
      const provider = Context.get(yield* Layer.build(layer), Provider.Provider)
      yield* provider.chat(chat)
      assert.strictEqual(server.seen[0]!.headers["authorization"], "Bearer gw-123")
      assert.strictEqual(server.seen[0]!.headers["x-team"], "search")
      assert.strictEqual(server.seen[0]!.url, "/v1/chat/completions")
    }))

  it.effect("a missing Config is a ConfigError naming it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(
        OpenAiProvider.layerConfig({ baseUrl: Config.string("MY_URL") }).pipe(Layer.provide(withEnv({})))
      )))
      assert.include(String(error), "MY_URL")
    }))
})

describe("OpenAiProvider for Azure OpenAI", () => {
  it.scopedLive("sends the key as api-key, to /deployments/{model}/... with ?api-version", () =>
    Effect.gen(function*() {
      const server = yield* serve((request, res) =>
        request.url.includes("/embeddings") ? json(res, 200, embeddingBody) : json(res, 200, chatBody())
      )
      const endpoint = server.baseUrl.replace(/\/v1$/, "")
      const layer = OpenAiProvider.layerConfig().pipe(Layer.provide(withEnv({
        AZURE_OPENAI_API_KEY: "azure-secret",
        AZURE_OPENAI_ENDPOINT: endpoint,
        OPENAI_API_VERSION: "2024-10-21"
      })))
      const provider = Context.get(yield* Layer.build(layer), Provider.Provider)
      yield* provider.chat(chat)
      yield* provider.embed(Schema.decodeUnknownSync(Embedding.EmbeddingRequest)({ model: "text-embedding-3-small", input: "x" }))
      const [first, second] = server.seen
      assert.strictEqual(first!.url, "/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21")
      assert.strictEqual(first!.headers["api-key"], "azure-secret")
      assert.isUndefined(first!.headers["authorization"])
      assert.strictEqual(second!.url, "/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21")
    }))

  it.scopedLive("a fixed deployment, and a base URL that already names one", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => json(res, 200, chatBody()))
      const apiKey = Redacted.make("k")
      const base = server.baseUrl.replace(/\/v1$/, "/openai")
      for (
        const options of [
          { baseUrl: base, azure: { apiVersion: "2024-10-21", deployment: "prod" } },
          { baseUrl: `${base}/deployments/named`, azure: { apiVersion: "2024-10-21" } }
        ]
      ) {
        const provider = Context.get(yield* Layer.build(OpenAiProvider.layer({ apiKey, ...options })), Provider.Provider)
        yield* provider.chat(chat)
      }
      assert.deepStrictEqual(server.seen.map((seen) => seen.url), [
        "/openai/deployments/prod/chat/completions?api-version=2024-10-21",
        "/openai/deployments/named/chat/completions?api-version=2024-10-21"
      ])
    }))
})

describe("extra headers", () => {
  it.scopedLive("a Redacted header value is sent, and scrubbed from errors like the key", () =>
    Effect.gen(function*() {
      const server = yield* serve((request, res) =>
        json(res, 401, { error: { message: `bad token ${String(request.headers["x-gateway-token"])}` } })
      )
      const layer = OpenAiProvider.layer({
        baseUrl: server.baseUrl,
        headers: { "X-Gateway-Token": Redacted.make("gw-secret-42"), "X-Team": "search" }
      })
      const provider = Context.get(yield* Layer.build(layer), Provider.Provider)
      const error = yield* Effect.flip(provider.chat(chat))
      assert.strictEqual(server.seen[0]!.headers["x-gateway-token"], "gw-secret-42")
      assert.strictEqual(server.seen[0]!.headers["x-team"], "search")
      assert.notInclude(error.message, "gw-secret-42")
      assert.include(error.message, "[REDACTED]")
      assert.notInclude(provider.name, "gw-secret-42")
    }))
})

describe("Azure mode of the test server", () => {
  it.scopedLive("OpenAiProvider with `azure` talks to it", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey: "azure-k", azure: true })
      const provider = Context.get(
        yield* Layer.build(OpenAiProvider.layer({
          apiKey: Redacted.make("azure-k"),
          baseUrl: `http://127.0.0.1:${server.port}/openai`,
          azure: { apiVersion: "2024-10-21" }
        })),
        Provider.Provider
      )
      const reply = yield* provider.chat(chat)
      assert.strictEqual(reply.response.model, "gpt-4o-mini")
      assert.strictEqual((yield* server.stats).byPath["/openai/deployments/gpt-4o-mini/chat/completions"], 1)
    }))
})
