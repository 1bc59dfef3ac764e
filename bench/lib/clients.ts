/**
 * The three clients the benchmarks compare, each driven at a fixed concurrency over the same
 * workload: a raw undici `Pool` loop (the ceiling), the official `openai` SDK, and FastLLM
 * (`RequestManager` + `OpenAiProvider` with its default transport).
 *
 * @since 0.1.0
 */
import { Cache, ChatResponse, Provider, RequestManager } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import OpenAI from "openai"
import { Pool } from "undici"

/**
 * The fake API key the benchmarks send (the testing server accepts any key).
 *
 * @since 0.1.0
 * @category constants
 */
export const apiKey = "sk-bench-not-a-real-key"

/**
 * A chat request body as sent on the wire.
 *
 * @since 0.1.0
 * @category models
 */
// A type alias, not an interface: it must satisfy the request schemas' index signature.
export type Body = {
  readonly model: string
  readonly messages: readonly [{ readonly role: "user"; readonly content: string }]
  readonly max_tokens: number
}

/**
 * `count` unique chat request bodies; `salt` makes the set unique per run (no cache can help).
 *
 * @since 0.1.0
 * @category constructors
 */
export const bodies = (count: number, salt: string): Array<Body> =>
  Array.from({ length: count }, (_, i) => ({
    model: "gpt-4o-mini",
    messages: [{ role: "user" as const, content: `benchmark ${salt} question ${i}` }],
    max_tokens: 16
  }))

/** Runs `run(i)` from `concurrency` loops until `count` indices are taken. */
const loops = async (count: number, concurrency: number, run: (i: number) => Promise<unknown>): Promise<void> => {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await run(next++)
  }))
}

/**
 * A client under test: `run(work, count)` sends the first `count` bodies at its concurrency.
 *
 * @since 0.1.0
 * @category models
 */
export interface Client {
  readonly run: (work: ReadonlyArray<Body>, count: number) => Promise<void>
  readonly close: () => Promise<void>
}

/**
 * The ceiling: `Pool.request` from `concurrency` async loops over a keep-alive pool of
 * `concurrency` connections, JSON body parsed, status checked. No retries, no timeouts, no
 * decoding: the least work a client can do.
 *
 * @since 0.1.0
 * @category constructors
 */
export const rawUndici = (url: string, concurrency: number): Client => {
  const origin = new URL(url).origin
  const path = `${new URL(url).pathname}/chat/completions`
  const pool = new Pool(origin, { connections: concurrency, pipelining: 1 })
  const headers = { "content-type": "application/json", authorization: `Bearer ${apiKey}` }
  return {
    run: (work, count) =>
      loops(count, concurrency, async (i) => {
        const response = await pool.request({ path, method: "POST", headers, body: JSON.stringify(work[i]) })
        const json: unknown = await response.body.json()
        if (response.statusCode !== 200 || typeof json !== "object" || json === null) {
          throw new Error(`raw undici: status ${response.statusCode}`)
        }
      }),
    close: () => pool.close()
  }
}

/**
 * The official `openai` SDK (`chat.completions.create`) from `concurrency` async loops, retries
 * off (nothing fails here), its default fetch transport.
 *
 * @since 0.1.0
 * @category constructors
 */
export const openAiSdk = (url: string, concurrency: number): Client => {
  const sdk = new OpenAI({ apiKey, baseURL: url, maxRetries: 0 })
  return {
    run: (work, count) => loops(count, concurrency, (i) => sdk.chat.completions.create({ ...work[i]!, messages: [...work[i]!.messages] })),
    close: () => Promise.resolve()
  }
}

/**
 * FastLLM as a user would set it up: `RequestManager.layer({ concurrency })` over
 * `OpenAiProvider.layer` (lean undici transport, default options) and `Cache.none` (the workload
 * is unique, a cache could only add cost). `manager.run(bodies)`: decoding, keys, single-flight,
 * retries (none needed), timeouts, stats and ordered results included.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fastLlm = async (
  url: string,
  concurrency: number,
  options: RequestManager.Options = {}
): Promise<Client> => {
  const scope = Effect.runSync(Scope.make())
  // Build the layers into `scope` (Effect.provide would close the provider's pool at once).
  const manager = await Effect.runPromise(
    Layer.build(Layer.merge(OpenAiProvider.layer({ apiKey: Redacted.make(apiKey), baseUrl: url }), Cache.none)).pipe(
      Effect.flatMap((context) => Effect.provide(RequestManager.make({ concurrency, ...options }), context)),
      Scope.extend(scope)
    )
  )
  return {
    run: async (work, count) => {
      const { stats } = await Effect.runPromise(manager.run(count === work.length ? work : work.slice(0, count)))
      if (stats.failed > 0) throw new Error(`FastLLM: ${stats.failed} requests failed`)
    },
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/**
 * An instant in-process provider (no HTTP) whose reply echoes the request's first message: what
 * the cache benchmarks fill their caches with (bench/cache.ts, bench/redis.ts, bench/redis-choices.ts).
 *
 * @since 0.3.0
 * @category clients
 */
export const instantProvider: Provider.Provider.Service = Provider.fromFunctions({
  name: "bench-instant",
  chat: (request) =>
    Effect.succeed(Schema.decodeUnknownSync(ChatResponse.ChatResponse)({
      id: "chatcmpl-bench",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "gpt-4o-mini",
      choices: [{
        index: 0,
        message: { role: "assistant", content: `Echo: ${String(request.messages[0]?.content ?? "")}`, refusal: null },
        logprobs: null,
        finish_reason: "stop"
      }],
      usage: { prompt_tokens: 8, completion_tokens: 10, total_tokens: 18 }
    }))
})
