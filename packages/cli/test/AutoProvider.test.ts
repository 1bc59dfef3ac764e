import { assert, describe, it } from "@effect/vitest"
import { AutoProvider } from "@fastllm/cli"
import { Provider } from "@fastllm/core"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const withEnv = (env: Record<string, string>) => Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

describe("AutoProvider.layerConfig", () => {
  it.effect("a malformed variable is a ConfigError naming it, not a silent fall-back to the local server", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(
        AutoProvider.layerConfig({ announce: () => {} }).pipe(Layer.provide(withEnv({ OPENAI_TIMEOUT: "soon" })))
      )))
      assert.isTrue(ConfigError.isConfigError(error))
      assert.include(String(error), "OPENAI_TIMEOUT")
    }))

  it.scopedLive("Azure variables select the OpenAI provider at the Azure endpoint", () =>
    Effect.gen(function*() {
      const announced: Array<string> = []
      const context = yield* Layer.build(
        AutoProvider.layerConfig({ announce: (line) => announced.push(line) }).pipe(Layer.provide(withEnv({
          AZURE_OPENAI_API_KEY: "k",
          AZURE_OPENAI_ENDPOINT: "https://res.openai.azure.com",
          OPENAI_API_VERSION: "2024-10-21"
        })))
      )
      assert.strictEqual(Context.get(context, Provider.Provider).name, "openai-compatible:res.openai.azure.com/openai")
      assert.deepStrictEqual(announced, [])
    }))
})
