/**
 * CPU per request of the OpenAI provider against a raw undici Pool loop (the ceiling), the provider
 * over platform-node's undici HttpClient, the official `openai` SDK, and RequestManager + provider.
 *
 * The test server (packages/testing, 0 ms latency) runs in a child process, so `process.cpuUsage()`
 * here counts the client side only. Every variant runs in this one process, in alternating rounds
 * (A B C ... A B C ...), so JIT warm-up and machine noise fall on all of them alike; the table shows
 * the median round of each.
 *
 *   npx tsx bench/provider-overhead.ts [--requests 10000] [--concurrency 64] [--rounds 3]
 *
 * @since 0.1.0
 */
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { ApiRequest, Cache, ChatRequest, type Provider, RequestManager } from "@fastllm/core"
import { OpenAiProvider, UndiciHttpClient } from "@fastllm/provider-openai"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import OpenAI from "openai"
import { Pool } from "undici"

const argument = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`)
  const value = index === -1 ? undefined : Number(process.argv[index + 1])
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback
}
const requests = argument("requests", 10_000)
const concurrency = argument("concurrency", 64)
const rounds = argument("rounds", 3)
const apiKey = "sk-bench"

const startServer = (): Promise<{ readonly url: string; readonly stop: () => void }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "packages/testing/src/bin.ts", "--port", "0"], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    child.on("error", reject)
    createInterface({ input: child.stdout }).once("line", (line) => {
      const parsed: unknown = JSON.parse(line)
      const url = typeof parsed === "object" && parsed !== null && "url" in parsed ? String(parsed.url) : ""
      resolve({ url, stop: () => child.kill("SIGTERM") })
    })
  })

const bodies = Array.from({ length: requests }, (_, i) => ({
  model: "gpt-4o-mini",
  messages: [{ role: "user" as const, content: `benchmark question ${i}` }],
  max_tokens: 16
}))
const decoded = bodies.map((body) => Schema.decodeUnknownSync(ChatRequest.ChatRequest)(body))

/** Runs `worker` from `concurrency` loops until every index is taken. */
const loops = async (run: (i: number) => Promise<unknown>): Promise<void> => {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < requests) await run(next++)
  }))
}

interface Variant {
  readonly name: string
  readonly run: () => Promise<void>
}

const main = async () => {
  const server = await startServer()
  try {
    await measure(server.url)
  } finally {
    server.stop()
  }
}

const measure = async (url: string) => {
  const server = { url }
  const origin = new URL(server.url).origin
  const scope = Effect.runSync(Scope.make())
  const inScope = <A>(effect: Effect.Effect<A, never, Scope.Scope>): Promise<A> =>
    Effect.runPromise(Scope.extend(effect, scope))

  const pool = new Pool(origin, { connections: concurrency })
  const headers = { "content-type": "application/json", authorization: `Bearer ${apiKey}` }
  const lean = OpenAiProvider.makeWith(UndiciHttpClient.make(await inScope(UndiciHttpClient.makeAgent())), {
    apiKey: Redacted.make(apiKey),
    baseUrl: server.url
  })
  const platform = OpenAiProvider.makeWith(NodeHttpClient.makeUndici(await inScope(UndiciHttpClient.makeAgent())), {
    apiKey: Redacted.make(apiKey),
    baseUrl: server.url
  })
  const sdk = new OpenAI({ apiKey, baseURL: server.url, maxRetries: 0 })
  const manager = Context.get(
    await inScope(Layer.build(
      RequestManager.layer({ concurrency, window: concurrency, maxRetries: 0 }).pipe(
        Layer.provide(OpenAiProvider.layer({ apiKey: Redacted.make(apiKey), baseUrl: server.url })),
        Layer.provide(Cache.none)
      )
    )),
    RequestManager.RequestManager
  )
  const throughProvider = (provider: Provider.Provider.Service) => () =>
    Effect.runPromise(Effect.forEach(decoded, (request) => provider.chat(request), { concurrency, discard: true }))

  const variants: ReadonlyArray<Variant> = [
    {
      name: "raw undici Pool",
      run: () =>
        loops(async (i) => {
          const response = await pool.request({
            origin,
            path: "/v1/chat/completions",
            method: "POST",
            headers,
            body: JSON.stringify(bodies[i])
          })
          const json: unknown = await response.body.json()
          if (response.statusCode !== 200 || typeof json !== "object") throw new Error(`status ${response.statusCode}`)
        })
    },
    { name: "provider, UndiciHttpClient (default)", run: throughProvider(lean) },
    { name: "provider, NodeHttpClient.makeUndici", run: throughProvider(platform) },
    {
      name: "openai SDK",
      run: () => loops((i) => sdk.chat.completions.create(bodies[i]!))
    },
    {
      name: "RequestManager + provider (no cache)",
      run: async () => {
        const { results, stats } = await Effect.runPromise(manager.run(decoded.map(ApiRequest.chat)))
        const failure = results.find((result) => result._tag === "Failure")
        if (failure?._tag === "Failure") throw new Error(`${stats.failed} failed: ${failure.error.message}`)
      }
    }
  ]

  const results = new Map<string, Array<{ readonly cpuMicros: number; readonly perSecond: number }>>()
  // one untimed warm-up round
  for (const variant of variants) await variant.run()
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      const cpu = process.cpuUsage()
      const start = performance.now()
      await variant.run()
      const elapsed = performance.now() - start
      const used = process.cpuUsage(cpu)
      const list = results.get(variant.name) ?? []
      list.push({ cpuMicros: (used.user + used.system) / requests, perSecond: requests / (elapsed / 1000) })
      results.set(variant.name, list)
    }
  }

  const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!
  const raw = results.get(variants[0]!.name)!
  const rawCpu = median(raw.map((r) => r.cpuMicros))
  const rawRate = median(raw.map((r) => r.perSecond))
  console.log(
    `${requests} requests per round, concurrency ${concurrency}, ${rounds} rounds (median), Node ${process.version}`
  )
  console.log("variant                                 CPU µs/req   × raw CPU    req/s   × raw req/s")
  for (const [name, list] of results) {
    const cpu = median(list.map((r) => r.cpuMicros))
    const rate = median(list.map((r) => r.perSecond))
    console.log(
      `${name.padEnd(40)}${cpu.toFixed(1).padStart(10)}${(cpu / rawCpu).toFixed(2).padStart(11)}` +
        `${rate.toFixed(0).padStart(9)}${(rate / rawRate).toFixed(2).padStart(13)}`
    )
  }

  await Effect.runPromise(Scope.close(scope, Exit.void))
  await pool.close()
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
