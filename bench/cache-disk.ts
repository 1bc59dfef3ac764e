/**
 * Disk cache throughput: 100,000 sets then 100,000 gets through the `Cache` service, DiskCache
 * (LMDB) next to Cache.memory for comparison.
 *
 *   npx tsx bench/cache-disk.ts [entries=100000] [setConcurrency=256]
 *
 * - sets: `Effect.forEach(keys, set, { concurrency })`, the way the RequestManager writes answers
 *   from many fibers at once (LMDB commits the concurrent puts of one event turn in one
 *   transaction). A set completes when its transaction has committed (`durability: "commit"`,
 *   the default) or also been fsynced (`"flush"`).
 * - gets: one fiber, one key after the other, every one a hit; a first pass on the open store,
 *   then three more: the best of those is the "warm" number (the machine may be shared). Every hit is a real decode: header check, JSON.parse,
 *   Schema decode of the ApiResponse.
 * - reopen: close the store, open it again, one more get pass (what a resumed run sees).
 * - maintenance: `prune` over the full store, and the eviction a `maxEntries` bound of N/2 causes.
 *
 * Values are chat responses of ~1 KB of JSON (a few hundred characters of content and usage).
 * Target: ≥ 50,000 hits/s (the Python original's disk cache does ~4,000/s on this machine).
 *
 * @since 0.1.0
 */
import { DiskCache } from "@fastllm/cache-disk"
import { ApiRequest, Cache } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const N = Number(process.argv[2] ?? 100_000)
const SET_CONCURRENCY = Number(process.argv[3] ?? 256)

const response = (key: string): ApiRequest.ApiResponse =>
  Schema.decodeUnknownSync(ApiRequest.ApiResponse)({
    _tag: "Chat",
    response: {
      id: `chatcmpl-${key}`,
      object: "chat.completion",
      created: 1_700_000_000,
      model: "gpt-4o-mini-2024-07-18",
      choices: [{
        index: 0,
        message: { role: "assistant", content: `The answer for ${key}: ` + "lorem ipsum dolor sit amet ".repeat(24), refusal: null },
        logprobs: null,
        finish_reason: "stop"
      }],
      usage: {
        prompt_tokens: 120,
        completion_tokens: 160,
        total_tokens: 280,
        prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
        completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 }
      },
      system_fingerprint: "fp_0123456789",
      service_tier: "default"
    }
  })

// 64-hex-character keys, like RequestKey's SHA-256 keys.
const keys = Array.from({ length: N }, (_, i) => i.toString(16).padStart(64, "0"))
const values = keys.map(response)

const rate = (count: number, ms: number) => `${Math.round(count / (ms / 1000)).toLocaleString("en-US")}/s`

const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const start = performance.now()
    const a = yield* effect
    return [a, performance.now() - start] as const
  })

const sets = Effect.flatMap(Cache.Cache, (cache) =>
  Effect.forEach(keys, (key, i) => cache.set(key, values[i]!), { concurrency: SET_CONCURRENCY, discard: true }))

const gets = Effect.flatMap(Cache.Cache, (cache) =>
  Effect.gen(function*() {
    let hits = 0
    for (const key of keys) {
      if (Option.isSome(yield* cache.get(key))) hits++
    }
    if (hits !== N) return yield* Effect.dieMessage(`expected ${N} hits, got ${hits}`)
    return hits
  }))

const run = (name: string, layer: () => Layer.Layer<Cache.Cache, unknown>, reopen: boolean) =>
  Effect.gen(function*() {
    // one open store: the sets, then two passes of gets (the second is the warm number)
    const [setMs, firstMs, warmMs] = yield* Effect.provide(
      Effect.gen(function*() {
        const [, setMs] = yield* timed(sets)
        const [, firstMs] = yield* timed(gets)
        // the machine is shared: the best of three warm passes
        let warmMs = Number.POSITIVE_INFINITY
        for (let pass = 0; pass < 3; pass++) warmMs = Math.min(warmMs, (yield* timed(gets))[1])
        return [setMs, firstMs, warmMs] as const
      }),
      layer()
    )
    // a new process would see this: the store closed and opened again
    const reopenedMs = reopen ? (yield* Effect.provide(timed(gets), layer()))[1] : undefined
    console.log(
      `${name.padEnd(20)} sets ${rate(N, setMs).padStart(9)}  gets(1st) ${rate(N, firstMs).padStart(9)}  ` +
        `gets(warm) ${rate(N, warmMs).padStart(9)}` +
        (reopenedMs === undefined ? "" : `  gets(reopened) ${rate(N, reopenedMs).padStart(9)}`)
    )
  })

const program = Effect.gen(function*() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fastllm-bench-disk-"))
  const flushDir = fs.mkdtempSync(path.join(os.tmpdir(), "fastllm-bench-disk-flush-"))
  try {
    console.log(`${N.toLocaleString("en-US")} entries, set concurrency ${SET_CONCURRENCY}, node ${process.version}, ${os.cpus().length} CPUs`)
    // The memory cache must hold everything, and its layer must survive between phases: build it once.
    const memory = yield* Cache.makeMemory({ capacity: N })
    yield* run("Cache.memory", () => Layer.succeed(Cache.Cache, memory), false)
    yield* run("DiskCache (commit)", () => DiskCache.layer({ path: dir }), true)
    yield* run("DiskCache (flush)", () => DiskCache.layer({ path: flushDir, durability: "flush" }), false)
    const size = fs.statSync(path.join(dir, "cache.mdb")).size
    console.log(`store size on disk: ${(size / 1024 / 1024).toFixed(1)} MiB for ${N.toLocaleString("en-US")} entries`)
    // maintenance on the full store: a prune that finds nothing (a full header scan), then the one
    // set that crosses a bound of N/2 entries and evicts the oldest down to 90% of it
    yield* Effect.scoped(Effect.gen(function*() {
      const disk = yield* DiskCache.make({ path: dir, maxEntries: Math.floor(N / 2) })
      const [removed, pruneMs] = yield* timed(disk.prune)
      const [, evictMs] = yield* timed(disk.set("one-more", values[0]!))
      const left = yield* disk.size
      console.log(
        `prune (full scan, ${removed} removed): ${pruneMs.toFixed(0)} ms; ` +
          `eviction to ${left.toLocaleString("en-US")} entries: ${evictMs.toFixed(0)} ms`
      )
    }))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
    fs.rmSync(flushDir, { recursive: true, force: true })
  }
})

Effect.runPromise(program).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
