/**
 * Redis: the shared cache's hits/s, and 1, 2 and 4 worker processes on one job against the local
 * test server, next to the in-process engine. Needs a Redis (FASTLLM_TEST_REDIS_URL, default
 * 127.0.0.1:6379); every key goes under a fresh prefix, removed at the end.
 *
 *   npx tsx bench/redis.ts [--items 4000] [--hits 20000]
 *
 * - Cache hits: a warm rerun of `--hits` items through `RequestManager.run` (concurrency 64) over
 *   the Redis cache (default window, and a window of 1,024), next to `Cache.memory`; and
 *   `cache.get` alone, 256 and 1,024 at a time (what the cache can do without the manager);
 *   alternating rounds, best of 3.
 * - Workers: `fastllm run --redis` plus 0, 1 or 3 `fastllm worker`s (1, 2, 4 processes) on `--items`
 *   distinct requests, at 0 ms and 20 ms server latency, concurrency 64 each; wall time (from the
 *   run's start to its exit, process start-up included) and CPU per request summed over every
 *   process (user + system, from `/usr/bin/time`). The baseline is the in-process engine:
 *   `fastllm run --no-cache` alone. The difference in CPU per request between `run --redis` alone
 *   and the baseline is the per-item cost of Redis coordination (queue, records, shared cache,
 *   claims, global budgets).
 *
 * Written to bench/results/redis.md.
 *
 * @since 0.2.0
 */
import { Cache, Provider, RequestManager } from "@fastllm/core"
import { RedisCache, RedisConnection } from "@fastllm/redis"
import { TestServer } from "@fastllm/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { bodies, instantProvider } from "./lib/clients.js"
import { fmt, machine, numberFlag, table } from "./lib/report.js"

const argv = process.argv.slice(2)
const items = numberFlag(argv, "items", 4_000)
const hits = numberFlag(argv, "hits", 20_000)
const redisUrl = process.env.FASTLLM_TEST_REDIS_URL ?? "redis://127.0.0.1:6379"
const here = dirname(fileURLToPath(import.meta.url))
const bin = join(here, "..", "packages", "cli", "bin", "fastllm.js")
const prefix = `fastllm-bench:${randomUUID().slice(0, 8)}:`

/**
 * Hits/s of a warm rerun through the manager, Redis next to memory (the manager's default window,
 * 2 x concurrency = 128 items in progress, and a window of 1,024, which lets one tick's MGET carry
 * more keys), and of `cache.get` alone (256 and 1,024 at a time): what Redis gives, and what the
 * manager's per-item cost leaves of it. Rounds alternate the variants.
 */
const cacheHits = Effect.gen(function*() {
  const work = bodies(hits, "redis-hits")
  const memoryContext = yield* Layer.build(Layer.merge(Cache.memory({ capacity: hits }), Layer.succeed(Provider.Provider, instantProvider)))
  const redisContext = yield* Layer.build(
    Layer.merge(
      RedisCache.layer().pipe(Layer.provide(RedisConnection.layer({ url: redisUrl, prefix: `${prefix}hits:` }))),
      Layer.succeed(Provider.Provider, instantProvider)
    )
  )
  const managers = {
    "memory, through the manager (window 128)": yield* Effect.provide(RequestManager.make({ concurrency: 64 }), memoryContext),
    "redis, through the manager (window 128)": yield* Effect.provide(RequestManager.make({ concurrency: 64 }), redisContext),
    "redis, through the manager (window 1,024)": yield* Effect.provide(
      RequestManager.make({ concurrency: 64, window: 1_024 }),
      redisContext
    )
  }
  yield* managers["memory, through the manager (window 128)"].run(work) // fill
  const keys = (yield* managers["redis, through the manager (window 128)"].run(work)).results.map((r) => r.key ?? "")
  const redisCache = yield* Effect.provide(Cache.Cache, redisContext)
  const memoryCache = yield* Effect.provide(Cache.Cache, memoryContext)
  const rates: Record<string, Array<number>> = {}
  const record = (name: string, start: number) => (rates[name] ??= []).push(hits / ((performance.now() - start) / 1000))
  for (let round = 0; round < 3; round++) {
    for (const [name, manager] of Object.entries(managers)) {
      const start = performance.now()
      const { stats } = yield* manager.run(work)
      if (stats.cached !== hits) throw new Error(`${name}: ${stats.cached} of ${hits} cached`)
      record(name, start)
    }
    for (const [name, cache, width] of [
      ["memory, cache.get alone (256 at a time)", memoryCache, 256],
      ["redis, cache.get alone (256 at a time)", redisCache, 256],
      ["redis, cache.get alone (1,024 at a time)", redisCache, 1_024]
    ] as const) {
      const start = performance.now()
      yield* Effect.forEach(keys, (key) => cache.get(key), { concurrency: width, discard: true })
      record(name, start)
    }
  }
  const best = (values: ReadonlyArray<number>) => Math.max(...values)
  return Object.entries(rates).map(([name, values]) => [name, fmt(best(values)), values.map((v) => fmt(v)).join(", ")])
})

interface ProcessRun {
  readonly code: number | null
  readonly cpuSeconds: number
}

/** Runs `fastllm args` under /usr/bin/time; its exit code and CPU seconds (user + system). */
const fastllm = (args: ReadonlyArray<string>, cwd: string): Promise<ProcessRun> =>
  new Promise((resolve) => {
    const child = spawn("/usr/bin/time", ["-f", "CPU %U %S", process.execPath, bin, ...args], {
      cwd,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, OPENAI_API_KEY: "", OPENAI_BASE_URL: "" }
    })
    let stderr = ""
    child.stderr.setEncoding("utf8").on("data", (text: string) => stderr += text)
    child.on("close", (code) => {
      const match = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(stderr)
      if (code !== 0) process.stderr.write(stderr)
      resolve({ code, cpuSeconds: match === null ? Number.NaN : Number(match[1]) + Number(match[2]) })
    })
  })

/** `processes` processes (one run, the rest workers) on `items` distinct requests. */
const workers = async (processes: number, latencyMs: number, redis: boolean) => {
  const server = await TestServer.start({ latency: { minMs: latencyMs, maxMs: latencyMs } })
  const dir = mkdtempSync(join(os.tmpdir(), "fastllm-bench-redis-"))
  try {
    const input = join(dir, "in.jsonl")
    const salt = randomUUID()
    writeFileSync(input, bodies(items, salt).map((b) => JSON.stringify(b)).join("\n") + "\n")
    const common = ["--base-url", server.url, "-q", "--concurrency", "64"]
    const jobPrefix = `${prefix}w${processes}l${latencyMs}:`
    const redisArgs = ["--redis", redisUrl, "--redis-prefix", jobPrefix]
    const start = performance.now()
    const run = fastllm(
      ["run", input, "-o", join(dir, "out.jsonl"), ...common, ...(redis ? redisArgs : ["--no-cache"])],
      dir
    )
    const helpers: Array<Promise<ProcessRun>> = []
    if (processes > 1) {
      while (server.stats().requests === 0) await new Promise((r) => setTimeout(r, 10))
      for (let i = 1; i < processes; i++) helpers.push(fastllm(["worker", "--exit-when-idle", ...common, ...redisArgs], dir))
    }
    const main = await run
    const wallMs = performance.now() - start
    const rest = await Promise.all(helpers)
    const all = [main, ...rest]
    if (all.some((r) => r.code !== 0)) throw new Error(`a process failed: ${JSON.stringify(all)}`)
    const cpu = all.reduce((sum, r) => sum + r.cpuSeconds, 0)
    return { rate: items / (wallMs / 1000), cpuMicros: (cpu * 1e6) / items, requests: server.stats().requests }
  } finally {
    await server.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

const main = Effect.gen(function*() {
  process.stderr.write("cache hits...\n")
  const hitRows = yield* Effect.scoped(cacheHits)
  const rows: Array<Array<string>> = []
  for (const latency of [0, 20]) {
    const baseline = yield* Effect.promise(() => workers(1, latency, false))
    rows.push([`${latency} ms`, "in-process (run --no-cache)", fmt(baseline.rate), fmt(baseline.cpuMicros), "1.00"])
    for (const processes of [1, 2, 4]) {
      process.stderr.write(`${processes} process(es), ${latency} ms...\n`)
      const r = yield* Effect.promise(() => workers(processes, latency, true))
      if (r.requests < items) throw new Error(`the server saw ${r.requests} of ${items} requests`)
      rows.push([
        `${latency} ms`,
        processes === 1 ? "run --redis" : `run --redis + ${processes - 1} worker${processes > 2 ? "s" : ""}`,
        fmt(r.rate),
        fmt(r.cpuMicros),
        fmt(r.cpuMicros / baseline.cpuMicros, 2)
      ])
    }
  }
  // clean up the bench's keys
  yield* Effect.scoped(Effect.flatMap(RedisConnection.make({ url: redisUrl, prefix }), (connection) =>
    connection.use("cleanup", async (client) => {
      let cursor = "0"
      do {
        const [next, keys] = await client.scan(cursor, "MATCH", `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`, "COUNT", 1000)
        if (keys.length > 0) await client.unlink(...keys)
        cursor = next
      } while (cursor !== "0")
    })))
  const text = [
    "## Redis (bench/redis.ts)",
    "",
    `${machine()}; Redis at ${RedisConnection.displayUrl(redisUrl)}. \`npx tsx bench/redis.ts --items ${items} --hits ${hits}\``,
    "",
    `Warm rerun of ${hits.toLocaleString("en")} items (all hits), concurrency 64, and the same keys read by \`cache.get\` ` +
    "alone; best of 3 alternating rounds (the rounds):",
    "",
    table(["cache, path", "hits/s", "rounds"], hitRows),
    "",
    `${items.toLocaleString("en")} distinct requests, every process at concurrency 64, local test server; wall time from the run's start ` +
    "(process start-up included); CPU summed over every process:",
    "",
    table(["latency", "processes", "req/s", "CPU µs/request", "CPU vs in-process"], rows),
    ""
  ].join("\n")
  process.stdout.write(text + "\n")
  const out = join(here, "results", "redis.md")
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, text)
})

Effect.runPromise(main).catch((error) => {
  process.stderr.write(`${String(error)}\n`)
  process.exit(1)
})
