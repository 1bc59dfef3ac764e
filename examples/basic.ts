/**
 * A batch with Effect.runPromise: the OpenAI provider and the disk cache as layers.
 *
 *   npm run example:basic            # built-in local server when OPENAI_API_KEY is not set
 *   OPENAI_API_KEY=sk-... npm run example:basic
 *
 * Run it twice: the second run is answered from the disk cache (`cached` in the stats).
 */
import { DiskCache } from "@fastllm/cache-disk"
import { AutoProvider } from "@fastllm/cli"
import { ChatResponse, RequestManager } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const cities = ["Paris", "Tokyo", "Lima", "Nairobi", "Oslo", "Hanoi", "Quito", "Perth"]

const program = Effect.gen(function*() {
  const { results, stats } = yield* RequestManager.run(
    cities.map((city) => ({
      model: "gpt-4o-mini",
      messages: [{ role: "user" as const, content: `One sentence about ${city}.` }],
      max_tokens: 60
    }))
  )
  for (const [i, result] of results.entries()) {
    const response = RequestManager.chatResponse(result)
    const answer = response ? ChatResponse.text(response) : result._tag === "Failure" ? result.error.message : ""
    console.log(`${cities[i]}: ${answer}`)
  }
  console.log(
    `${stats.succeeded}/${stats.total} succeeded, ${stats.cached} from the cache, ` +
      `${stats.tokens.totalTokens} tokens, ${stats.elapsedMillis} ms`
  )
})

// OpenAiProvider.layerConfig() reads OPENAI_API_KEY / OPENAI_BASE_URL; AutoProvider.layerConfig()
// does the same and falls back to the built-in local server when neither is set.
const MainLayer = RequestManager.layer({ concurrency: 16 }).pipe(
  Layer.provide(AutoProvider.layerConfig()),
  Layer.provide(DiskCache.layer({ path: ".fastllm-cache/examples" }))
)

Effect.runPromise(program.pipe(Effect.provide(MainLayer))).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
