/**
 * Embeddings: embed a few documents and a query in one batch, rank the documents by cosine
 * similarity to the query.
 *
 *   npm run example:embeddings
 *
 * (On the built-in local server the vectors are deterministic pseudo-random numbers, so the ranking
 * is arbitrary; with OPENAI_API_KEY set it is a real semantic search.)
 */
import { AutoProvider } from "@fastllm/cli"
import { Cache, Embedding, RequestManager } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

const documents = [
  "The cat sat on the warm windowsill all afternoon.",
  "Quarterly revenue grew by twelve percent.",
  "Kittens sleep up to twenty hours a day.",
  "The central bank raised interest rates again."
]
const query = "Where do cats like to nap?"
const model = "text-embedding-3-small"

const cosine = (a: ReadonlyArray<number>, b: ReadonlyArray<number>) => {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    dot += a[i]! * b[i]!
    na += a[i]! * a[i]!
    nb += b[i]! * b[i]!
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb)
}

const program = Effect.gen(function*() {
  // One request embeds every document (the API takes an array); the query is a second request.
  const { results } = yield* RequestManager.run([{ model, input: documents }, { model, input: query }])
  const [docs, question] = yield* Effect.forEach(results, (result) =>
    result._tag === "Failure"
      ? Effect.fail(result.error)
      : result.kind === "embedding"
      ? Effect.succeed(Embedding.vectors(result.response))
      : Effect.dieMessage("expected an embeddings response"))
  const queryVector = question?.[0] ?? []
  const ranked = documents
    .map((text, i) => ({ text, score: cosine(docs?.[i] ?? [], queryVector) }))
    .sort((a, b) => b.score - a.score)
  console.log(`Query: ${query}  (${queryVector.length} dimensions)`)
  for (const { score, text } of ranked) console.log(`  ${score.toFixed(3)}  ${text}`)
})

const MainLayer = RequestManager.layer().pipe(
  Layer.provide(AutoProvider.layerConfig()),
  Layer.provide(Cache.memory())
)

Effect.runPromise(program.pipe(Effect.provide(MainLayer))).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
