import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { assert, describe, it } from "@effect/vitest"
import { Cache, ChatRequest, Provider, RequestKey, RequestManager } from "@fastllm/core"
import { OpenAiProvider, UndiciHttpClient } from "@fastllm/provider-openai"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Tracer from "effect/Tracer"
import { chatBody, json, serve } from "./fixtures/httpServer.js"

const apiKey = "sk-proj-REDACTME-9f8e7d6c5b4a"

/** A server that echoes the Authorization header back in every kind of answer. */
const echoingServer = serve((request, res) => {
  const auth = String(request.headers["authorization"])
  const content = JSON.parse(request.body).messages[0].content as string
  switch (content) {
    case "ok":
      return json(res, 200, chatBody("ok"))
    case "401":
      return json(res, 401, { error: { message: `Incorrect API key provided: ${auth}`, type: "invalid_request_error" } })
    case "429":
      return json(res, 429, { error: { message: `slow down ${auth}` } }, { "retry-after-ms": "1" })
    case "500":
      return json(res, 500, { error: { message: `internal error for ${auth}` } })
    case "garbled":
      res.writeHead(200, { "content-type": "application/json" })
      return res.end(`{"id": "${auth}", broken`)
    default:
      return json(res, 200, { id: auth, model: "m", choices: "wrong shape" })
  }
})

const inputs = ["ok", "401", "429", "500", "garbled", "shape"].map((content): ChatRequest.ChatRequestInput => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content }]
}))

/** The native tracer, remembering every span it makes. */
const recordingTracer = (native: Tracer.Tracer, spans: Array<Tracer.Span>): Tracer.Tracer => ({
  ...native,
  span(...args) {
    const span = native.span(...args)
    spans.push(span)
    return span
  },
  context: (f, fiber) => native.context(f, fiber)
})

describe("the API key stays secret", () => {
  for (
    const [transportName, spansOn, clientFor] of [
      ["UndiciHttpClient", false, UndiciHttpClient.make],
      ["NodeHttpClient.makeUndici with spans on", true, NodeHttpClient.makeUndici]
    ] as const
  ) {
    it.scopedLive(`not in errors, logs, spans or request keys (${transportName})`, () =>
      Effect.gen(function*() {
        const server = yield* echoingServer
        const agent = yield* UndiciHttpClient.makeAgent()
        const provider = OpenAiProvider.makeWith(clientFor(agent), {
          apiKey: Redacted.make(apiKey),
          baseUrl: server.baseUrl,
          spans: spansOn
        })
        const logs: Array<string> = []
        const spans: Array<Tracer.Span> = []
        const native = yield* Effect.tracer
        const { results } = yield* Effect.gen(function*() {
          const manager = yield* RequestManager.make({ maxRetries: 1, retrySchedule: undefined })
          const batch = yield* manager.run(inputs)
          // what a user would typically log
          for (const result of batch.results) {
            if (result._tag === "Failure") yield* Effect.logError("item failed", result.error)
            else yield* Effect.logInfo("item done", result.response)
          }
          return batch
        }).pipe(
          Effect.withSpan("batch"),
          Effect.provide(Layer.merge(Layer.succeed(Provider.Provider, provider), Cache.memory())),
          Effect.withTracer(recordingTracer(native, spans)),
          Effect.provide(Logger.replace(
            Logger.defaultLogger,
            Logger.make(({ cause, message }) => logs.push(`${JSON.stringify(message)} ${String(cause)}`))
          ))
        )

        // the server did receive the key
        assert.strictEqual(server.seen[0]!.headers["authorization"], `Bearer ${apiKey}`)
        assert.isTrue(server.seen.some((seen) => seen.body.includes("garbled")))
        const tags = results.map((result) => result._tag === "Failure" ? result.error._tag : "Success")
        assert.deepStrictEqual(tags, ["Success", "ApiError", "RateLimitError", "ApiError", "DecodeError", "DecodeError"])

        const texts: Array<string> = [provider.name, ...logs]
        for (const result of results) {
          texts.push(String(result.key))
          if (result._tag === "Failure") {
            texts.push(result.error.message, String(result.error), JSON.stringify(result.error))
            texts.push(JSON.stringify(Schema.encodeSync(Schema.Union(result.error.constructor as never))(result.error)))
          }
        }
        assert.isAbove(logs.length, 5)
        if (spansOn) {
          const httpSpans = spans.filter((span) => span.name.startsWith("http.client"))
          assert.isAbove(httpSpans.length, 0)
          assert.strictEqual(httpSpans[0]!.attributes.get("http.request.header.authorization"), "<redacted>")
        }
        for (const span of spans) {
          texts.push(span.name, JSON.stringify(Object.fromEntries(span.attributes)))
          if (span.status._tag === "Ended" && Exit.isFailure(span.status.exit)) texts.push(String(span.status.exit.cause))
        }
        for (const text of texts) assert.notInclude(text, "REDACTME")
      }))
  }

  it.scoped("the request key does not depend on the key", () =>
    Effect.gen(function*() {
    const request = Schema.decodeUnknownSync(ChatRequest.ChatRequest)(inputs[0])
    const client = UndiciHttpClient.make(yield* UndiciHttpClient.makeAgent())
    const a = OpenAiProvider.makeWith(client, { apiKey: Redacted.make("sk-a"), baseUrl: "http://127.0.0.1:1/v1" })
    const b = OpenAiProvider.makeWith(client, { apiKey: Redacted.make("sk-b"), baseUrl: "http://127.0.0.1:1/v1" })
    assert.strictEqual(
      RequestKey.make(a.name, { _tag: "Chat", request }),
      RequestKey.make(b.name, { _tag: "Chat", request })
    )
  }))
})

describe("OpenAiProvider.layerConfig", () => {
  const withEnv = (env: Record<string, string>) =>
    Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

  it.scopedLive("reads OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID and OPENAI_PROJECT_ID", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => json(res, 200, chatBody()))
      const layer = OpenAiProvider.layerConfig({ headers: Config.succeed({ "x-extra": "1" }) }).pipe(
        Layer.provide(withEnv({
          OPENAI_API_KEY: apiKey,
          OPENAI_BASE_URL: server.baseUrl,
          OPENAI_ORG_ID: "org-1",
          OPENAI_PROJECT_ID: "proj-1"
        }))
      )
      const provider = Context.get(yield* Layer.build(layer), Provider.Provider)
      yield* provider.chat(Schema.decodeUnknownSync(ChatRequest.ChatRequest)(inputs[0]))
      const headers = server.seen[0]!.headers
      assert.strictEqual(headers["authorization"], `Bearer ${apiKey}`)
      assert.strictEqual(headers["openai-organization"], "org-1")
      assert.strictEqual(headers["openai-project"], "proj-1")
      assert.strictEqual(headers["x-extra"], "1")
    }))

  it.scopedLive("a local server needs no key: no Authorization header is sent", () =>
    Effect.gen(function*() {
      const server = yield* serve((_, res) => json(res, 200, chatBody()))
      const layer = OpenAiProvider.layerConfig().pipe(Layer.provide(withEnv({ OPENAI_BASE_URL: server.baseUrl })))
      const provider = Context.get(yield* Layer.build(layer), Provider.Provider)
      yield* provider.chat(Schema.decodeUnknownSync(ChatRequest.ChatRequest)(inputs[0]))
      assert.isUndefined(server.seen[0]!.headers["authorization"])
    }))

  it.effect("api.openai.com without OPENAI_API_KEY is a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Effect.provide(Provider.Provider, OpenAiProvider.layerConfig().pipe(Layer.provide(withEnv({})))))
      )
      assert.include(String(error), "OPENAI_API_KEY")
      // and the key never shows up in a ConfigError either
      const bad = yield* Effect.flip(
        Effect.scoped(Effect.provide(
          Provider.Provider,
          OpenAiProvider.layerConfig().pipe(Layer.provide(withEnv({ OPENAI_API_KEY: apiKey, OPENAI_TIMEOUT: "soon" })))
        ))
      )
      assert.notInclude(String(bad), "REDACTME")
    }))
})
