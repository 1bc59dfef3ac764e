/**
 * Issue 13's benchmarks: full speed under limits and faults. Each scenario runs the RequestManager
 * over real HTTP against its own in-process test server (`@fastllm/testing`), side by side with its
 * baseline in the same process run; ratios are the result (absolute rates drift on a shared machine).
 *
 *   npx tsx bench/limits-faults.ts [--scale 1] [--only pacing,random429,resets,load]
 *
 * 1. pacing: 3,000 RPM enforced per 1 s (`rateWindow`), 3,000 requests, concurrency 200:
 *    configured (`requestsPerMinute`) vs learned from headers only. Targets: configured 0 429s and
 *    ≥ 95% of the limit over the run; learned ≤ 0.5% 429s and ≥ 90%.
 * 2. random429: 10,000 requests, 10% random 429s (retry-after 200 ms), 20 ms latency: wall time vs
 *    the clean run. Target ≤ 1.4×, every item answered once.
 * 3. resets: 2% and 20% connection resets at 0 ms latency, `manager.stream` (ordered output) vs the
 *    clean run's items/s. Targets ≥ 0.8× and ≥ 0.5×.
 * 4. load: latency grows with requests in flight (20 ms + 0.08 ms × (n − 1)²): the default
 *    (concurrency 64, adaptive) vs a sweep of fixed concurrencies. Target: within 10% of the best.
 *
 * `--scale 0.2` runs every size at a fifth (for a quick look). Results: printed, and written to
 * bench/results/limits-faults.md.
 *
 * @since 0.2.0
 */
import { Cache, type ChatRequest, RequestManager } from "@fastllm/core"
import { OpenAiProvider } from "@fastllm/provider-openai"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { mkdirSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { fmt, stringFlag, table, verdict } from "./lib/report.js"

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => stringFlag(argv, name)
const scale = Number(flag("scale") ?? 1)
const only = flag("only")?.split(",")
const wanted = (name: string) => only === undefined || only.includes(name)
const sized = (n: number) => Math.max(100, Math.round(n * scale))

const request = (i: number): ChatRequest.ChatRequestInput => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user", content: `item ${i}` }],
  max_tokens: 5
})

interface Outcome {
  readonly wallMillis: number
  readonly succeeded: number
  readonly failed: number
  readonly serverRequests: number
  readonly rateLimited: number
  readonly concurrency: number
}

/** Runs `n` requests through a fresh server and manager; `ordered` uses `manager.stream`. */
const runOnce = (
  n: number,
  server: TestServer.Options,
  manager: RequestManager.Options,
  ordered = false
): Promise<Outcome> =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const testServer = yield* TestServer.make(server)
    const concurrency = manager.concurrency ?? 64
    const context = yield* Layer.build(
      Layer.merge(OpenAiProvider.layer({ baseUrl: testServer.url, connections: concurrency }), Cache.none)
    )
    const rm = yield* RequestManager.make({ cache: false, ...manager }).pipe(Effect.provide(context))
    const inputs = Array.from({ length: n }, (_, i) => request(i))
    const started = performance.now()
    if (ordered) {
      yield* Stream.runDrain(rm.stream(Stream.fromIterable(inputs), { total: n }))
    } else {
      yield* rm.run(inputs)
    }
    const wallMillis = performance.now() - started
    const stats = yield* rm.snapshot
    const served = yield* testServer.stats
    return {
      wallMillis,
      succeeded: stats.succeeded,
      failed: stats.failed,
      serverRequests: served.requests,
      rateLimited: served.rateLimited,
      concurrency: stats.concurrency.current
    }
  })))

const sections: Array<string> = []
const say = (text: string) => {
  console.log(text)
  sections.push(text)
}

const pacing = async () => {
  const n = sized(3_000)
  const server: TestServer.Options = { requestsPerMinute: 3_000, rateWindow: "1 second", latency: { minMs: 20, maxMs: 60 } }
  const rows: Array<Array<string>> = []
  for (const [name, options, maxShare, minShare] of [
    ["configured", { concurrency: 200, requestsPerMinute: 3_000 }, 0, 0.95],
    ["learned from headers", { concurrency: 200 }, 0.005, 0.9]
  ] as const) {
    const out = await runOnce(n, server, options)
    // the limit: 50 per second after the first second's burst of 50
    const ideal = Math.max(1, ((n - 50) / 50) * 1000)
    const ofLimit = ideal / out.wallMillis
    const share = out.rateLimited / n
    rows.push([
      name,
      fmt(out.wallMillis / 1000, 1) + " s",
      fmt(out.rateLimited),
      fmt(100 * share, 2) + "%",
      fmt(100 * ofLimit, 1) + "%",
      verdict(share <= maxShare && ofLimit >= minShare, `429s ≤ ${100 * maxShare}%, ≥ ${100 * minShare}% of the limit`)
    ])
  }
  say(`### Paced budgets: 3,000 RPM enforced per 1 s, ${fmt(n)} requests, concurrency 200\n\n` +
    table(["run", "wall", "429s", "share", "of the limit", "target"], rows))
}

const random429 = async () => {
  const n = sized(10_000)
  const latency = { minMs: 20, maxMs: 20 }
  const clean = await runOnce(n, { latency }, { concurrency: 64 })
  const faulty = await runOnce(n, { latency, faults: { rateLimit: 0.1, retryAfterMs: [200, 200], seed: 7 } }, { concurrency: 64 })
  const ratio = faulty.wallMillis / clean.wallMillis
  say(`### 10% random 429s (retry-after 200 ms), 20 ms latency, ${fmt(n)} requests, concurrency 64\n\n` +
    table(["run", "wall", "answered", "failed", "concurrency at the end"], [
      ["clean", fmt(clean.wallMillis / 1000, 2) + " s", fmt(clean.succeeded), fmt(clean.failed), fmt(clean.concurrency)],
      ["10% 429s", fmt(faulty.wallMillis / 1000, 2) + " s", fmt(faulty.succeeded), fmt(faulty.failed), fmt(faulty.concurrency)]
    ]) + `\n\nratio ${fmt(ratio, 2)}×: ${verdict(ratio <= 1.4 && faulty.succeeded === n, "≤ 1.4×, every item answered")}`)
}

const resets = async () => {
  const n = sized(3_000)
  const latency = { minMs: 0, maxMs: 0 }
  const clean = await runOnce(n, { latency }, { concurrency: 64 }, true)
  const rows: Array<Array<string>> = [["clean", fmt(n / (clean.wallMillis / 1000)), "1.00×", ""]]
  for (const [share, target] of [[0.02, 0.8], [0.2, 0.5]] as const) {
    const out = await runOnce(n, { latency, faults: { reset: share, seed: 11 } }, { concurrency: 64 }, true)
    const ratio = clean.wallMillis / out.wallMillis
    rows.push([`${100 * share}% resets`, fmt(n / (out.wallMillis / 1000)), fmt(ratio, 2) + "×", verdict(ratio >= target, `≥ ${target}×`)])
  }
  say(`### Connection resets at 0 ms latency, ${fmt(n)} lines through manager.stream, concurrency 64\n\n` +
    table(["run", "items/s", "vs clean", "target"], rows))
}

const load = async () => {
  const n = sized(3_000)
  const server: TestServer.Options = { latency: { minMs: 20, maxMs: 20, perInFlightSquaredMs: 0.08 } }
  const sweep: Array<[number, number]> = []
  for (const concurrency of [8, 16, 24, 32, 48, 64]) {
    const out = await runOnce(n, server, { concurrency, adaptiveConcurrency: false })
    sweep.push([concurrency, n / (out.wallMillis / 1000)])
  }
  const adaptive = await runOnce(n, server, { concurrency: 64 })
  const rate = n / (adaptive.wallMillis / 1000)
  const best = Math.max(...sweep.map(([, r]) => r))
  say(`### Latency grows with load (20 ms + 0.08 ms × (n − 1)²), ${fmt(n)} requests\n\n` +
    table(["concurrency", "items/s"], [
      ...sweep.map(([c, r]) => [`fixed ${c}`, fmt(r)]),
      [`default 64, adaptive (ended at ${adaptive.concurrency})`, fmt(rate)]
    ]) + `\n\nadaptive / best fixed: ${fmt(rate / best, 2)}: ${verdict(rate >= 0.9 * best, "within 10% of the best")}`)
}

const main = async () => {
  say(
    `## Limits and faults (issue 13), ${new Date().toISOString()}, scale ${scale}\n\n` +
      `Command: \`npx tsx bench/limits-faults.ts${argv.length > 0 ? " " + argv.join(" ") : ""}\` ` +
      `(Node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(", ")} at the start). ` +
      "Each scenario runs the RequestManager over real HTTP against its own in-process test server, side by side " +
      "with its baseline in this one run; the ratios are the result."
  )
  if (wanted("pacing")) await pacing()
  if (wanted("random429")) await random429()
  if (wanted("resets")) await resets()
  if (wanted("load")) await load()
  const out = join(dirname(fileURLToPath(import.meta.url)), "results", "limits-faults.md")
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, sections.join("\n\n") + "\n")
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
