/**
 * Redis: the two choices issue 15 asks to make on measurements, both sides of each measured in one
 * run on the same Redis (FASTLLM_TEST_REDIS_URL, default 127.0.0.1:6379; every key under a fresh
 * prefix, removed at the end):
 *
 *   npx tsx bench/redis-choices.ts [--keys 20000] [--chunks 400] [--rounds 3]
 *
 * 1. Cache reads, `--keys` stored answers read back 256 at a time (best of `--rounds`, alternating):
 *    - ioredis 5 directly, gets of one event-loop turn batched into one MGET (what `RedisCache` does),
 *    - `@effect/experimental`'s `Persistence/Redis` store: `get` (one GET per key, its own client as
 *      configured by default) and `getMany` (one MGET per 256),
 *    each value JSON-parsed; and `RedisCache.get` end to end (MGET + entry decoding) for reference.
 * 2. Job queue, `--chunks` chunks of 100 request lines each (submit, then take / complete with a
 *    record, 8 chunks at a time, the work itself a no-op):
 *    - `JobQueue` on Redis Streams (XADD in scripts of 16, XREADGROUP, complete = HSETNX + XACK + XDEL),
 *    - BullMQ 5 (`Queue.addBulk`, a `Worker` with concurrency 8 returning the record).
 *
 * Written to bench/results/redis-choices.md.
 *
 * @since 0.2.0
 */
import { Cache, Provider, RequestManager } from "@fastllm/core"
import { JobQueue, RedisCache, RedisConnection } from "@fastllm/redis"
import * as PersistenceRedis from "@effect/experimental/Persistence/Redis"
import { Queue, Worker } from "bullmq"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import { Redis } from "ioredis"
import { randomUUID } from "node:crypto"
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { bodies, instantProvider } from "./lib/clients.js"
import { fmt, machine, numberFlag, table } from "./lib/report.js"

const argv = process.argv.slice(2)
const keyCount = numberFlag(argv, "keys", 20_000)
const chunkCount = numberFlag(argv, "chunks", 400)
const rounds = numberFlag(argv, "rounds", 3)
const redisUrl = process.env.FASTLLM_TEST_REDIS_URL ?? "redis://127.0.0.1:6379"
const here = dirname(fileURLToPath(import.meta.url))
const prefix = `fastllm-bench:${randomUUID().slice(0, 8)}:`
const width = 256

/** `f` over `items`, `width` at a time; items per second. */
const rate = async <A>(items: ReadonlyArray<A>, f: (item: A) => Promise<unknown>): Promise<number> => {
  const start = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await f(items[next++]!)
  }))
  return items.length / ((performance.now() - start) / 1000)
}

/** `f` over `items` in one Effect, `width` at a time; items per second. */
const effectRate = <A>(items: ReadonlyArray<A>, f: (item: A) => Effect.Effect<unknown, unknown>): Promise<number> => {
  const start = performance.now()
  return Effect.runPromise(Effect.forEach(items, f, { concurrency: width, discard: true })).then(() =>
    items.length / ((performance.now() - start) / 1000)
  )
}

/** GETs of one event-loop turn as one MGET: the batching RedisCache uses (internal/mget.ts). */
const batchedGet = (client: Redis) => {
  let pending: Array<{ key: string; resolve: (value: string | null) => void; reject: (e: unknown) => void }> = []
  const flush = () => {
    const batch = pending
    pending = []
    for (let start = 0; start < batch.length; start += 512) {
      const part = batch.slice(start, start + 512)
      client.mget(part.map((p) => p.key)).then(
        (values) => part.forEach((p, i) => p.resolve(values[i] ?? null)),
        (error) => part.forEach((p) => p.reject(error))
      )
    }
  }
  return (key: string) =>
    new Promise<string | null>((resolve, reject) => {
      pending.push({ key, resolve, reject })
      if (pending.length === 1) setImmediate(flush)
    })
}

const cacheReads = Effect.gen(function*() {
  const cachePrefix = `${prefix}cache:`
  const connection = yield* RedisConnection.make({ url: redisUrl, prefix: cachePrefix })
  const cacheLayer = RedisCache.layer().pipe(Layer.provide(Layer.succeed(RedisConnection.RedisConnection, connection)))
  const context = yield* Layer.build(Layer.merge(cacheLayer, Layer.succeed(Provider.Provider, instantProvider)))
  const manager = yield* Effect.provide(RequestManager.make({ concurrency: 64 }), context)
  const { results } = yield* manager.run(bodies(keyCount, "redis-choices"))
  const keys = results.map((r) => r.key ?? "")
  const cache = yield* Effect.provide(Cache.Cache, context)
  const raw = yield* Effect.promise(() => connection.client.mget(keys.map((k) => `${cachePrefix}cache:${k}`)))
  if (raw.some((v) => v === null)) throw new Error("the cache was not filled")

  // The same values in Persistence/Redis's store (its own client, its default options).
  const backing = yield* PersistenceRedis.make({ host: new URL(redisUrl).hostname, port: Number(new URL(redisUrl).port || 6379) })
  const store = yield* backing.make(`${prefix}persistence`)
  // (RedisCache's values are a one-line header and the JSON: the store gets the JSON.)
  const json = (text: string) => JSON.parse(text.slice(text.indexOf("\n") + 1))
  yield* store.setMany(keys.map((k, i) => [k, json(raw[i]!), Option.none()] as const))

  const direct = new Redis(redisUrl)
  yield* Effect.addFinalizer(() => Effect.promise(() => direct.quit()))
  const get = batchedGet(direct)
  const groups = Array.from({ length: Math.ceil(keys.length / width) }, (_, i) => keys.slice(i * width, (i + 1) * width))
  const variants: Record<string, () => Promise<number>> = {
    "ioredis, batched MGET (RedisCache's way)": () =>
      rate(keys, (k) => get(`${cachePrefix}cache:${k}`).then((v) => v === null ? null : json(v))),
    "Persistence/Redis get (GET per key)": () => effectRate(keys, store.get),
    "Persistence/Redis getMany (MGET of 256)": async () => {
      const start = performance.now()
      for (const group of groups) await Effect.runPromise(store.getMany(group))
      return keys.length / ((performance.now() - start) / 1000)
    },
    "RedisCache.get end to end (MGET + entry decoding)": () => effectRate(keys, cache.get)
  }
  const rates: Record<string, Array<number>> = Object.fromEntries(Object.keys(variants).map((name) => [name, []]))
  for (let round = 0; round < rounds; round++) {
    for (const [name, run] of Object.entries(variants)) rates[name]!.push(yield* Effect.promise(run))
  }
  return Object.entries(rates).map(([name, values]) => [name, fmt(Math.max(...values)), values.map((v) => fmt(v)).join(", ")])
})

/** 100 request lines per chunk, as `fastllm run --redis` makes them. */
const chunkLines = (chunk: number): Array<JobQueue.Line> =>
  bodies(100, `chunk-${chunk}`).map((body, i) => ({ line: chunk * 100 + i + 1, text: JSON.stringify(body), valid: true }))
const record = JSON.stringify(Array.from({ length: 100 }, () => null))

const streamsQueue = Effect.gen(function*() {
  const connection = yield* RedisConnection.make({ url: redisUrl, prefix: `${prefix}streams:` })
  const queue = yield* Effect.provideService(JobQueue.make({ lease: "30 seconds" }), RedisConnection.RedisConnection, connection)
  const lines = Array.from({ length: chunkCount }, (_, c) => chunkLines(c)).flat()
  const id = JobQueue.jobId({ contentSha256: randomUUID(), chunkSize: 100 })
  const submitStart = performance.now()
  yield* queue.submit({ id, name: "bench", total: lines.length, chunkSize: 100 }, Stream.fromIterable(lines))
  const submitMs = performance.now() - submitStart
  const start = performance.now()
  let done = 0
  yield* Effect.forEach(Array.from({ length: 8 }), () =>
    Effect.gen(function*() {
      while (true) {
        const [chunk] = yield* queue.take("bench", 1, [id])
        if (chunk === undefined) return
        yield* queue.complete(chunk, record, { done: chunk.lines.length, failed: 0 })
        done++
      }
    }), { concurrency: "unbounded", discard: true })
  if (done !== chunkCount) throw new Error(`streams: ${done} of ${chunkCount} chunks`)
  return { submit: chunkCount / (submitMs / 1000), process: chunkCount / ((performance.now() - start) / 1000) }
})

const bullQueue = async () => {
  const url = new URL(redisUrl)
  const connection = { host: url.hostname, port: Number(url.port || 6379) }
  const name = "bench"
  const queue = new Queue(name, { connection, prefix: `${prefix}bull` })
  try {
    const chunks = Array.from({ length: chunkCount }, (_, c) => ({ name: "chunk", data: { index: c, lines: chunkLines(c) } }))
    const submitStart = performance.now()
    for (let start = 0; start < chunks.length; start += 16) await queue.addBulk(chunks.slice(start, start + 16))
    const submitMs = performance.now() - submitStart
    let done = 0
    const start = performance.now()
    const finished = new Promise<void>((resolve) => {
      const worker = new Worker(name, async () => record, { connection, prefix: `${prefix}bull`, concurrency: 8 })
      worker.on("completed", () => {
        if (++done === chunkCount) void worker.close().then(resolve)
      })
    })
    await finished
    return { submit: chunkCount / (submitMs / 1000), process: chunkCount / ((performance.now() - start) / 1000) }
  } finally {
    await queue.obliterate({ force: true }).catch(() => undefined)
    await queue.close()
  }
}

const queues = Effect.gen(function*() {
  const rows: Record<string, Array<{ submit: number; process: number }>> = { "Redis Streams (JobQueue)": [], "BullMQ 5": [] }
  for (let round = 0; round < rounds; round++) {
    rows["Redis Streams (JobQueue)"]!.push(yield* Effect.scoped(streamsQueue))
    rows["BullMQ 5"]!.push(yield* Effect.promise(bullQueue))
  }
  return Object.entries(rows).map(([name, values]) => [
    name,
    fmt(Math.max(...values.map((v) => v.submit))),
    fmt(Math.max(...values.map((v) => v.process))),
    fmt(Math.max(...values.map((v) => v.process)) * 100),
    values.map((v) => `${fmt(v.submit)} / ${fmt(v.process)}`).join(", ")
  ])
})

const main = Effect.gen(function*() {
  process.stderr.write("cache reads...\n")
  const cacheRows = yield* Effect.scoped(cacheReads)
  process.stderr.write("queues...\n")
  const queueRows = yield* queues
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
    "## Redis: the choices, measured (bench/redis-choices.ts)",
    "",
    `${machine()}; Redis at ${RedisConnection.displayUrl(redisUrl)}. ` +
    `\`npx tsx bench/redis-choices.ts --keys ${keyCount} --chunks ${chunkCount} --rounds ${rounds}\``,
    "",
    `Cache reads: ${keyCount.toLocaleString("en")} stored answers read back ${width} at a time; best of ${rounds} (the rounds):`,
    "",
    table(["client", "reads/s", "rounds"], cacheRows),
    "",
    `Job queue: ${chunkCount} chunks of 100 request lines (submit, then take and complete with a record, 8 at a time); ` +
    `best of ${rounds} (the rounds, submit / process):`,
    "",
    table(["queue", "chunks/s submitted", "chunks/s processed", "items/s processed", "rounds"], queueRows),
    ""
  ].join("\n")
  process.stdout.write(text + "\n")
  const out = join(here, "results", "redis-choices.md")
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, text)
})

Effect.runPromise(main).catch((error) => {
  process.stderr.write(`${String(error)}\n`)
  process.exit(1)
})
