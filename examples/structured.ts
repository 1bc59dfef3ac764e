/**
 * Typed answers: 200 short texts classified into an Effect Schema with `Structured.run`.
 *
 *   npm run example:structured       # built-in local server when OPENAI_API_KEY is not set
 *   OPENAI_API_KEY=sk-... npm run example:structured
 *
 * On the built-in server a fifth of the answers are invalid on purpose (bad JSON, a missing field,
 * a wrong label): they are re-asked with the error (at most twice), and an item whose answer never
 * decodes ends as an `OutputError`. Run it twice: the second run decodes the cached answers and
 * makes no API call.
 */
import { DiskCache } from "@fastllm/cache-disk"
import { AutoProvider } from "@fastllm/cli"
import { RequestManager, Structured } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"

const Sentiment = Schema.Struct({
  label: Schema.Literal("positive", "negative", "neutral"),
  confidence: Schema.Number.pipe(Schema.between(0, 1))
})

const subjects = ["The pasta", "This phone", "The hotel room", "Our guide", "The new update", "The concert", "Delivery", "The manual"]
const verdicts = ["was wonderful", "broke after a day", "was fine, nothing special", "exceeded every expectation", "was a waste of money"]
const texts = Array.from({ length: 200 }, (_, i) =>
  `${subjects[i % subjects.length]} ${verdicts[Math.floor(i / subjects.length) % verdicts.length]} (#${i + 1}).`)

const program = Effect.gen(function*() {
  const { results, stats } = yield* Structured.run(
    texts.map((text) => ({
      model: "gpt-4o-mini",
      messages: [
        { role: "system" as const, content: "Classify the sentiment of the user's text." },
        { role: "user" as const, content: text }
      ]
    })),
    { schema: Sentiment }
  )
  const labels: Record<string, number> = { positive: 0, negative: 0, neutral: 0 }
  for (const result of results) {
    if (result._tag === "Success") {
      labels[result.value.label] = (labels[result.value.label] ?? 0) + 1 // typed: "positive" | "negative" | "neutral"
      if (result.index < 3) console.log(`${texts[result.index]} → ${result.value.label} (${result.value.confidence})`)
    } else {
      console.log(`#${result.index + 1} failed: ${result.error._tag}: ${result.error.message.split("\n")[0]}`)
    }
  }
  console.log(`labels: ${Object.entries(labels).map(([label, n]) => `${label} ${n}`).join(", ")}`)
  console.log(
    `${stats.items} texts: ${stats.succeeded} typed values (${stats.repaired} after a repair), ` +
      `${stats.outputErrors} OutputErrors, ${stats.refusals} refusals`
  )
  console.log(
    `${stats.requests} requests (${stats.repairs} repairs), ${stats.apiCalls} API calls, ` +
      `${stats.cached} from the cache, ${stats.tokens.totalTokens} tokens`
  )
})

// Without a key, the built-in server answers, with 20% of its structured answers invalid.
const MainLayer = RequestManager.layer({ concurrency: 32 }).pipe(
  Layer.provide(AutoProvider.layerConfig({
    localServer: { ...AutoProvider.defaultLocalServer, faults: { seed: 16, invalidOutput: 0.2 } }
  })),
  Layer.provide(DiskCache.layer({ path: ".fastllm-cache/examples" }))
)

Effect.runPromise(program.pipe(Effect.provide(MainLayer))).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
