/**
 * Where a request's CPU goes: each step of FastLLM's path measured alone, in this process, as CPU
 * µs per item (median of alternating rounds), next to the whole path over HTTP. It answers "why"
 * when the overhead targets are missed: which steps cost what, and what the floor (raw undici) is.
 *
 *   npx tsx bench/lib/breakdown.ts [--items 20000] [--rounds 3]
 *
 * @since 0.1.0
 */
import { ApiRequest, Cache, ChatRequest, ChatResponse, Provider, RequestKey, RequestManager } from "@fastllm/core"
import { OpenAiProvider, UndiciHttpClient } from "@fastllm/provider-openai"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { pathToFileURL } from "node:url"
import { apiKey, bodies, rawUndici } from "./clients.js"
import { alternate, fmt, numberFlag, type Section, summarize, table } from "./report.js"
import { startServer } from "./server.js"

const responseJson = (content: string) => ({
  id: "chatcmpl-breakdown",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o-mini",
  choices: [{ index: 0, message: { role: "assistant", content, refusal: null, annotations: [] }, logprobs: null, finish_reason: "stop" }],
  usage: {
    prompt_tokens: 8,
    completion_tokens: 10,
    total_tokens: 18,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 }
  },
  system_fingerprint: "fp_fastllm_test",
  service_tier: "default"
})

/**
 * Measures every step; `concurrency` is the manager's and the HTTP loops'.
 *
 * @since 0.1.0
 * @category running
 */
export const run = async (options: {
  readonly items: number
  readonly rounds: number
  readonly concurrency: number
  readonly log?: (line: string) => void
}): Promise<{ readonly section: Section }> => {
  const log = options.log ?? (() => {})
  const { concurrency, items } = options
  const work = bodies(items, "breakdown")
  const decodeRequest = Schema.decodeUnknownSync(ApiRequest.ApiRequest)
  const decoded = work.map((body) => decodeRequest({ _tag: "Chat", request: body }))
  const chats = work.map((body) => Schema.decodeUnknownSync(ChatRequest.ChatRequest)(body))
  const texts = work.map((_, i) => JSON.stringify(responseJson(`Echo: breakdown question ${i} (0123abcd)`)))
  const decodeResponse = Schema.decodeUnknownSync(ChatResponse.ChatResponse)
  const answers = texts.map((text) => decodeResponse(JSON.parse(text)))
  // `enforcesTimeout: true` like the OpenAI provider (which aborts its own HTTP request), so the
  // manager skips its generic per-attempt timeout; `plain` is what Provider.fromFunctions gives.
  const plain = Provider.fromFunctions({ name: "instant", chat: () => Effect.succeed(answers[0]!) })
  const instant: Provider.Provider.Service = { ...plain, enforcesTimeout: true }

  const server = await startServer()
  const scope = Effect.runSync(Scope.make())
  const inScope = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.extend(effect, scope))
  const managerWith = (cache: Layer.Layer<Cache.Cache>, provider: Layer.Layer<Provider.Provider>) =>
    inScope(Effect.flatMap(Layer.build(Layer.merge(cache, provider)), (context) =>
      Effect.provide(RequestManager.make({ concurrency }), context)))
  const instantLayer = Layer.succeed(Provider.Provider, instant)
  const missManager = await managerWith(Cache.none, instantLayer)
  const genericTimeoutManager = await managerWith(Cache.none, Layer.succeed(Provider.Provider, plain))
  const hitManager = await managerWith(Cache.memory({ capacity: items }), instantLayer)
  await Effect.runPromise(hitManager.run(work))
  const provider = OpenAiProvider.makeWith(UndiciHttpClient.make(await inScope(UndiciHttpClient.makeAgent())), {
    apiKey: Redacted.make(apiKey),
    baseUrl: server.url
  })
  const httpLayer = OpenAiProvider.layer({ apiKey: Redacted.make(apiKey), baseUrl: server.url })
  const httpManager = await managerWith(Cache.none, httpLayer)
  const narrowManager = await inScope(Effect.flatMap(Layer.build(Layer.merge(Cache.none, httpLayer)), (context) =>
    Effect.provide(RequestManager.make({ concurrency, window: concurrency }), context)))
  const raw = rawUndici(server.url, concurrency)

  const sync = (step: (i: number) => unknown) => (count: number) => {
    for (let i = 0; i < count; i++) step(i)
    return Promise.resolve()
  }
  const steps: ReadonlyArray<{ readonly name: string; readonly what: string; readonly run: (count: number) => Promise<void> }> = [
    { name: "decode request", what: "Schema decode of the ApiRequest (ChatRequest)", run: sync((i) => decodeRequest({ _tag: "Chat", request: work[i] })) },
    { name: "request key", what: "RequestKey.make: canonical JSON + SHA-256", run: sync((i) => RequestKey.make("openai", decoded[i]!)) },
    { name: "JSON only", what: "JSON.stringify of the body + JSON.parse of a reply (any client's floor)", run: sync((i) => JSON.parse(JSON.stringify(work[i]) && texts[i]!)) },
    { name: "decode response", what: "Schema decode of a parsed ChatResponse", run: sync((i) => decodeResponse(JSON.parse(texts[i]!))) },
    {
      name: "fiber per item",
      what: `Effect.forEach(items, Effect.succeed, { concurrency: ${concurrency} })`,
      run: (count) => Effect.runPromise(Effect.forEach(work.slice(0, count), (body) => Effect.succeed(body), { concurrency, discard: true }))
    },
    { name: "manager, cache hit", what: "manager.run, Cache.memory warm: every item a hit", run: (count) => Effect.runPromise(hitManager.run(work.slice(0, count))).then(() => {}) },
    { name: "manager, miss", what: "manager.run, Cache.none, instant in-process provider (enforcesTimeout)", run: (count) => Effect.runPromise(missManager.run(work.slice(0, count))).then(() => {}) },
    {
      name: "manager, miss, generic timeout",
      what: "the same with a Provider.fromFunctions provider: the manager adds Effect.timeoutFail per attempt",
      run: (count) => Effect.runPromise(genericTimeoutManager.run(work.slice(0, count))).then(() => {})
    },
    {
      name: "manager.stream, miss",
      what: "manager.stream(Stream.fromIterable(items)) drained, instant provider (enforcesTimeout)",
      run: (count) => Effect.runPromise(Stream.runDrain(missManager.stream(Stream.fromIterable(work.slice(0, count)))))
    },
    { name: "raw undici (HTTP)", what: "Pool.request loop (the ceiling's client)", run: (count) => raw.run(work, count) },
    {
      name: "provider alone (HTTP)",
      what: `provider.chat via Effect.forEach, concurrency ${concurrency}`,
      run: (count) =>
        Effect.runPromise(Effect.forEach(chats.slice(0, count), (request) => provider.chat(request), { concurrency, discard: true }))
    },
    {
      name: "provider alone (HTTP), 60 s timeout",
      what: "the same with CallOptions.timeout, as the manager calls it (a deadline timer per request)",
      run: (count) =>
        Effect.runPromise(
          Effect.forEach(chats.slice(0, count), (request) => provider.chat(request, { timeout: Duration.seconds(60) }), { concurrency, discard: true })
        )
    },
    { name: "FastLLM (HTTP)", what: "manager.run over the provider: the whole path (default window, 2 × concurrency)", run: (count) => Effect.runPromise(httpManager.run(work.slice(0, count))).then(() => {}) },
    {
      name: "FastLLM (HTTP), window = concurrency",
      what: "the same with `window: concurrency` (no items waiting for a slot)",
      run: (count) => Effect.runPromise(narrowManager.run(work.slice(0, count))).then(() => {})
    }
  ]
  try {
    const samples = await alternate(steps.map((step) => ({ name: step.name, run: step.run })), items, options.rounds, {
      warmup: Math.min(items, 5_000),
      onSample: (name, sample) => log(`  breakdown ${name}: ${fmt(sample.cpuMicros / sample.requests, 1)} µs/item`)
    })
    const rows = steps.map((step) => [step.name, step.what, fmt(summarize(samples.get(step.name)!).cpu, 1)])
    const section: Section = {
      title: "6. Where a request's CPU goes",
      markdown: [
        `Each step alone, CPU µs per item (user + system of this process), ${fmt(items)} items, ${options.rounds} ` +
        `alternating rounds, medians; concurrency ${concurrency}. The HTTP rows talk to the testing server in its ` +
        "own process (its CPU not counted).",
        "",
        table(["step", "what", "CPU µs/item"], rows)
      ].join("\n")
    }
    return { section }
  } finally {
    await raw.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await server.stop()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2)
  run({ items: numberFlag(argv, "items", 20_000), rounds: numberFlag(argv, "rounds", 3), concurrency: 64, log: console.log })
    .then(({ section }) => console.log(`\n## ${section.title}\n\n${section.markdown}`))
    .catch((error) => {
      console.error(error)
      process.exitCode = 1
    })
}
