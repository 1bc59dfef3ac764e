// The "Library usage" example of README.md, verbatim below this comment (readme.test.ts checks
// that they match, type-checks it through `npm run check`, and runs it against the test server).
import { DiskCache } from "@fastllm/cache-disk"
import { ChatResponse, RequestManager } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const program = Effect.gen(function*() {
  const { results, stats } = yield* RequestManager.run(
    ["Paris", "Tokyo", "Lima"].map((city) => ({
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: `One sentence about ${city}.` }]
    }))
  )
  for (const result of results) {
    const response = RequestManager.chatResponse(result) // undefined for a failure
    console.log(response ? ChatResponse.text(response) : result._tag === "Failure" && result.error.message)
  }
  console.log(`${stats.succeeded} ok, ${stats.cached} cached, ${stats.tokens.totalTokens} tokens`)
})

const MainLayer = RequestManager.layer({ concurrency: 64 }).pipe(
  Layer.provide(OpenAiProvider.layerConfig()), // OPENAI_API_KEY, OPENAI_BASE_URL
  Layer.provide(DiskCache.layer({ path: ".fastllm-cache" }))
)

Effect.runPromise(program.pipe(Effect.provide(MainLayer)))
