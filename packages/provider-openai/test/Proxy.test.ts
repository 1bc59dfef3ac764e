import { assert, describe, it } from "@effect/vitest"
import { ChatRequest, Provider } from "@fastllm/core"
import { OpenAiProvider, UndiciHttpClient } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { proxy } from "./fixtures/proxy.js"

const apiKey = Redacted.make("sk-proxy-test")
const chat = Schema.decodeUnknownSync(ChatRequest.ChatRequest)({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] })

const providerWith = (options: OpenAiProvider.LayerOptions) =>
  Effect.map(Layer.build(OpenAiProvider.layer({ apiKey, ...options })), (context) => Context.get(context, Provider.Provider))

describe("proxies (a real CONNECT proxy on loopback)", () => {
  it.scopedLive("requests go through the proxy; NO_PROXY hosts go direct", () =>
    Effect.gen(function*() {
      const server = yield* TestServer.make({ apiKey: "sk-proxy-test" })
      const through = yield* proxy()
      const viaProxy = yield* providerWith({ baseUrl: server.url, proxy: { httpProxy: through.url } })
      const reply = yield* viaProxy.chat(chat)
      assert.strictEqual(reply.response.object, "chat.completion")
      assert.deepStrictEqual(through.seen, [`CONNECT 127.0.0.1:${server.port}`])

      const direct = yield* providerWith({ baseUrl: server.url, proxy: { httpProxy: through.url, noProxy: "127.0.0.1" } })
      yield* direct.chat(chat)
      assert.strictEqual(through.seen.length, 1, "NO_PROXY: not through the proxy")
      assert.strictEqual((yield* server.stats).requests, 2)
    }))

  it.scopedLive("an https API is reached through HTTPS_PROXY's CONNECT (refused here: nothing leaves the machine)", () =>
    Effect.gen(function*() {
      const through = yield* proxy({ refuse: () => true })
      const provider = yield* providerWith({ baseUrl: "https://api.example.invalid/v1", proxy: { httpsProxy: through.url } })
      const error = yield* Effect.flip(provider.chat(chat))
      assert.strictEqual(error._tag, "TransportError")
      assert.deepStrictEqual(through.seen, ["CONNECT api.example.invalid:443"])
      assert.notInclude(error.message, "sk-proxy-test")
    }))

  it("the environment's proxy variables switch the proxy on", () => {
    assert.isFalse(UndiciHttpClient.environmentHasProxy({}))
    assert.isFalse(UndiciHttpClient.environmentHasProxy({ HTTPS_PROXY: " " }))
    assert.isTrue(UndiciHttpClient.environmentHasProxy({ https_proxy: "http://proxy:3128" }))
    assert.isTrue(UndiciHttpClient.environmentHasProxy({ HTTP_PROXY: "http://proxy:3128" }))
  })
})
