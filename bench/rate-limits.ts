/**
 * Rate limits: does the RequestManager run right at the server's limit without tripping it?
 *
 *   npx tsx bench/rate-limits.ts [requests=3000]
 *
 * The testing server enforces 3,000 RPM and 300,000 TPM (OpenAI-style buckets: full at the start,
 * refilled continuously; a request costs ceil(prompt characters / 4) + max_tokens, charged on
 * arrival), with 50–250 ms latency. 3,000 requests of 200 tokens each (400 characters + max_tokens
 * 100) at concurrency 200: 600,000 tokens, so after the first 300,000 (the full bucket) the token
 * limit decides, and the best possible run sends the last request 60 s after the first.
 *
 * Scenarios (run at the same time, each against its own server):
 * - `configured`: requestsPerMinute 3,000 and tokensPerMinute 300,000 given (headers also read).
 * - `headers`: nothing configured; the limits come from x-ratelimit-* headers alone.
 * - each again with `window = concurrency` ("at send"): the limit is taken when a slot is free, as
 *   with the RequestManager change proposed in rateLimiter.ts; the default window (4 × concurrency)
 *   takes it before waiting for a slot.
 *
 * "Achieved" = the tokens charged after the initial full bucket, divided by what the limit refills
 * between the first and the last request sent: 100% is the server's maximum. Written to
 * bench/results/rate-limits.md.
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
const PROMPT_CHARS = 400
const MAX_TOKENS = 100
const COST = Math.ceil(PROMPT_CHARS / 4) + MAX_TOKENS
const N = Number(process.argv[2] ?? 3_000)
/** Optional: run only the scenarios whose name contains this text. */
const ONLY = process.argv[3]

interface Scenario {
  readonly name: string
  readonly configured: boolean
  readonly atSend: boolean
}

const scenarios: ReadonlyArray<Scenario> = [
  { name: "configured", configured: true, atSend: false },
  { name: "headers only", configured: false, atSend: false },
  { name: "configured, at send", configured: true, atSend: true },
  { name: "headers only, at send", configured: false, atSend: true }
]

const requestOf = (scenario: string, i: number): ChatRequest.ChatRequestInput => {
  const head = `${scenario} #${i}: `
  return {
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: head + "x".repeat(PROMPT_CHARS - head.length) }],
    max_tokens: MAX_TOKENS
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
    const inputs = Array.from({ length: N }, (_, i) => requestOf(scenario.name, i))
    const { stats } = yield* manager.run(inputs)
    const serverStats = yield* server.stats
    sends.sort((a, b) => a - b)
    const first = sends[0] ?? 0
    const last = sends[sends.length - 1] ?? 0
    const spanMillis = last - first
    const charged = stats.succeeded * COST
    const ideal = Math.max(0, ((N * COST - TPM) / TPM) * 60_000)
    if (stats.failed > 0) console.error(scenario.name, "failures:", JSON.stringify(stats.failuresByKind))
    const achieved = spanMillis > 0 ? (charged - TPM) / ((spanMillis * TPM) / 60_000) : Number.NaN
    const requestShare = spanMillis > 0 ? stats.apiCalls / (RPM + (spanMillis * RPM) / 60_000) : Number.NaN
    return {
      scenario: scenario.name,
      succeeded: stats.succeeded,
      failed: stats.failed,
      apiCalls: stats.apiCalls,
      serverRateLimited: serverStats.rateLimited,
      clientRateLimited: stats.rateLimited,
      spanSeconds: spanMillis / 1000,
      idealSeconds: ideal / 1000,
      achieved,
      requestShare,
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
    `\`npx tsx bench/rate-limits.ts ${N}\` — ${new Date().toISOString()}, Node ${process.version}, ` +
    `${N} chat requests of ${COST} tokens (${PROMPT_CHARS} characters + max_tokens ${MAX_TOKENS}), ` +
    `concurrency ${CONCURRENCY}, testing server at ${RPM} RPM / ${TPM} TPM, latency 50–250 ms; ` +
    "the four scenarios run at the same time, each against its own server.",
    "",
    "| scenario | ok | 429s (server) | 429 share | first→last send | best possible | TPM achieved | RPM used | learned limits | wait |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...results.map((r) =>
      `| ${r.scenario} | ${r.succeeded}/${N} | ${r.serverRateLimited} | ${percent(r.serverRateLimited / N)} | ` +
      `${r.spanSeconds.toFixed(1)} s | ${r.idealSeconds.toFixed(1)} s | ${percent(r.achieved)} | ` +
      `${percent(r.requestShare)} | ${r.limits.requestsPerMinute ?? "-"} RPM / ${r.limits.tokensPerMinute ?? "-"} TPM | ` +
      `${r.waitSeconds.toFixed(1)} s |`
    ),
    "",
    "TPM achieved: tokens charged after the initial full bucket / tokens the limit refilled between the first and",
    "the last send (100% = the server's maximum). RPM used: requests / (bucket + refill over the same span).",
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
