/**
 * Rate limits: does the RequestManager run right at the server's limit without tripping it?
 *
 *   npx tsx bench/rate-limits.ts [requests=3000] [only-scenarios-containing]
 *
 * The testing server enforces 3,000 RPM and 300,000 TPM (OpenAI-style buckets: full at the start,
 * refilled continuously; a request costs ceil(prompt characters / 4) + max_tokens, charged on
 * arrival), with 50–250 ms latency; concurrency 200.
 *
 * - TPM-bound: 3,000 requests of 200 tokens each (400 characters + max_tokens 100): 600,000
 *   tokens, so after the first 300,000 (the full bucket) the token limit decides, and the best
 *   possible run sends the last request 60 s after the first. (3,000 requests can never be
 *   RPM-bound: the RPM bucket holds 3,000.)
 * - RPM-bound: 6,000 requests of 20 tokens: the request limit decides, best possible 60 s.
 *
 * Each shape runs `configured` (requestsPerMinute and tokensPerMinute given; headers read too) and
 * `headers only` (nothing configured; limits from x-ratelimit-* alone). The TPM-bound ones run
 * again with `window = concurrency` ("at send"): the limit is taken when a slot is free, as with
 * the RequestManager now does (the limit is taken inside the slot); the default window is
 * 2 × concurrency. All run at the same time, each against its
 * own server.
 *
 * "Achieved" = the work (tokens or requests) sent after the initial full bucket, divided by what
 * the binding limit refills between the first and the last request sent: 100% is the server's
 * maximum. Written to bench/results/rate-limits.md.
 *
 * @since 0.1.0
 */
import { Cache, type ChatRequest, Provider, RequestManager } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const RPM = 3_000
const TPM = 300_000
const CONCURRENCY = 200
const N = Number(process.argv[2] ?? 3_000)
/** Optional: run only the scenarios whose name contains this text. */
const ONLY = process.argv[3]

/** What binds: 200-token requests exhaust the TPM bucket; 20-token ones (twice as many) the RPM one. */
interface Shape {
  readonly binding: "TPM" | "RPM"
  readonly requests: number
  readonly promptChars: number
  readonly maxTokens: number
}

const tokenBound: Shape = { binding: "TPM", requests: N, promptChars: 400, maxTokens: 100 }
const requestBound: Shape = { binding: "RPM", requests: 2 * N, promptChars: 40, maxTokens: 10 }

const costOf = (shape: Shape) => Math.ceil(shape.promptChars / 4) + shape.maxTokens

interface Scenario {
  readonly name: string
  readonly shape: Shape
  readonly configured: boolean
  readonly atSend: boolean
}

const scenarios: ReadonlyArray<Scenario> = [
  { name: "TPM-bound, configured", shape: tokenBound, configured: true, atSend: false },
  { name: "TPM-bound, headers only", shape: tokenBound, configured: false, atSend: false },
  { name: "TPM-bound, configured, at send", shape: tokenBound, configured: true, atSend: true },
  { name: "TPM-bound, headers only, at send", shape: tokenBound, configured: false, atSend: true },
  { name: "RPM-bound, configured", shape: requestBound, configured: true, atSend: false },
  { name: "RPM-bound, headers only", shape: requestBound, configured: false, atSend: false }
]

const requestOf = (scenario: Scenario, i: number): ChatRequest.ChatRequestInput => {
  const head = `${i}: `
  return {
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: head + "x".repeat(scenario.shape.promptChars - head.length) }],
    max_tokens: scenario.shape.maxTokens
  }
}

/** Wraps a provider to record when each request leaves. */
const recording = (sends: Array<number>) =>
  Layer.effect(
    Provider.Provider,
    Effect.map(Provider.Provider, (inner): Provider.Provider.Service => ({
      ...inner,
      chat: (request, options) =>
        Effect.suspend(() => {
          sends.push(performance.now())
          return inner.chat(request, options)
        })
    }))
  )

const run = (scenario: Scenario) =>
  Effect.scoped(Effect.gen(function*() {
    const server = yield* TestServer.make({
      requestsPerMinute: RPM,
      tokensPerMinute: TPM,
      latency: { minMs: 50, maxMs: 250 }
    })
    const sends: Array<number> = []
    const providerLayer = recording(sends).pipe(
      Layer.provide(OpenAiProvider.layer({ baseUrl: server.url, connections: CONCURRENCY }))
    )
    const context = yield* Layer.build(Layer.merge(providerLayer, Cache.none))
    const manager = yield* RequestManager.make({
      concurrency: CONCURRENCY,
      ...(scenario.atSend ? { window: CONCURRENCY } : {}),
      cache: false,
      ...(scenario.configured ? { requestsPerMinute: RPM, tokensPerMinute: TPM } : {})
    }).pipe(Effect.provide(context))
    const shape = scenario.shape
    const inputs = Array.from({ length: shape.requests }, (_, i) => requestOf(scenario, i))
    const { stats } = yield* manager.run(inputs)
    const serverStats = yield* server.stats
    sends.sort((a, b) => a - b)
    const first = sends[0] ?? 0
    const last = sends[sends.length - 1] ?? 0
    const spanMillis = last - first
    if (stats.failed > 0) console.error(scenario.name, "failures:", JSON.stringify(stats.failuresByKind))
    // Work beyond the initial full bucket, over what the limit refills between the first and last send.
    const [work, limit] = shape.binding === "TPM"
      ? [stats.succeeded * costOf(shape), TPM]
      : [stats.succeeded, RPM]
    const total = shape.requests * (shape.binding === "TPM" ? costOf(shape) : 1)
    const ideal = Math.max(0, ((total - limit) / limit) * 60_000)
    const achieved = spanMillis > 0 ? (work - limit) / ((spanMillis * limit) / 60_000) : Number.NaN
    return {
      scenario: scenario.name,
      requests: shape.requests,
      binding: shape.binding,
      succeeded: stats.succeeded,
      failed: stats.failed,
      apiCalls: stats.apiCalls,
      serverRateLimited: serverStats.rateLimited,
      clientRateLimited: stats.rateLimited,
      spanSeconds: spanMillis / 1000,
      idealSeconds: ideal / 1000,
      achieved,
      limits: stats.limits,
      waitSeconds: stats.rateLimitWaitMillis / 1000
    }
  }))

const percent = (x: number) => `${(x * 100).toFixed(1)}%`

const main = Effect.gen(function*() {
  const started = Date.now()
  const chosen = scenarios.filter((scenario) => ONLY === undefined || scenario.name.includes(ONLY))
  const results = yield* Effect.all(chosen.map(run), { concurrency: "unbounded" })
  const lines = [
    "# Rate limits",
    "",
    `\`npx tsx bench/rate-limits.ts ${N}\` — ${new Date().toISOString()}, Node ${process.version}. ` +
    `Testing server at ${RPM} RPM / ${TPM} TPM, latency 50–250 ms, concurrency ${CONCURRENCY}. ` +
    `TPM-bound: ${tokenBound.requests} chat requests of ${costOf(tokenBound)} tokens ` +
    `(${tokenBound.promptChars} characters + max_tokens ${tokenBound.maxTokens}); RPM-bound: ` +
    `${requestBound.requests} requests of ${costOf(requestBound)} tokens. All scenarios run at the same time ` +
    "(2 shared cores), each against its own server.",
    "",
    "| scenario | ok | 429s (server) | 429 share | first→last send | best possible | limit achieved | " +
    "limits in force | wait |",
    "|---|---|---|---|---|---|---|---|---|",
    ...results.map((r) =>
      `| ${r.scenario} | ${r.succeeded}/${r.requests} | ${r.serverRateLimited} | ` +
      `${percent(r.serverRateLimited / r.requests)} | ` +
      `${r.spanSeconds.toFixed(1)} s | ${r.idealSeconds.toFixed(1)} s | ${percent(r.achieved)} ${r.binding} | ` +
      `${r.limits.requestsPerMinute ?? "-"} RPM / ${r.limits.tokensPerMinute ?? "-"} TPM | ` +
      `${r.waitSeconds.toFixed(1)} s |`
    ),
    "",
    "Limit achieved: the work (tokens or requests) sent after the server's initial full bucket, divided by what the",
    "binding limit refills between the first and the last send; 100% is the most the server allows. \"at send\":",
    "window = concurrency, i.e. the limit is taken when a slot is free (the RequestManager change proposed with the",
    "rate controller, since applied); the others use the default window (2 × concurrency). Wait: wall-clock time during which at",
    "least one request was held back by the limiter.",
    "Targets: configured → zero 429s and ≥ 95%; headers only → ≤ 1% 429s and ≥ 90%.",
    ""
  ]
  const text = lines.join("\n")
  console.log(text)
  console.log(`(total ${((Date.now() - started) / 1000).toFixed(1)} s)`)
  const out = join(dirname(fileURLToPath(import.meta.url)), "results", "rate-limits.md")
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, text)
})

Effect.runPromise(main).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
