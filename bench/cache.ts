/**
 * 4. Cache: a warm rerun of 100,000 items through `RequestManager.run` with every answer already
 * in the cache, `Cache.memory` next to `DiskCache` (LMDB), alternating rounds, medians; hits/s.
 * The caches are filled by a first run over an instant in-process provider (`Provider.fromFunctions`,
 * no HTTP: only the rerun is measured, and a rerun never reaches the provider). For reference the
 * same keys are also read straight from each cache service (`cache.get` in a loop), which shows how
 * much of an item's cost is the cache and how much the manager.
 *
 *   npx tsx bench/cache.ts [--items 100000] [--rounds 3]
 *
 * @since 0.1.0
 */
import { DiskCache } from "@fastllm/cache-disk"
import { Cache, Provider, RequestKey, RequestManager } from "@fastllm/core"
import { ChatRequest } from "@fastllm/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { pathToFileURL } from "node:url"
import { bodies, instantProvider } from "./lib/clients.js"
import { alternate, fmt, numberFlag, type Section, summarize, table, tempDir, verdict } from "./lib/report.js"

/**
 * Runs the cache section.
 *
 * @since 0.1.0
 * @category running
 */
export const run = async (options: {
  readonly items: number
  readonly rounds: number
  readonly log?: (line: string) => void
}): Promise<{ readonly section: Section; readonly rates: Record<string, number> }> => {
  const log = options.log ?? (() => {})
  const dir = tempDir("fastllm-bench-cache-")
  const scope = Effect.runSync(Scope.make())
  try {
    const work = bodies(options.items, "cache")
    const keys = work.map((body) =>
      RequestKey.make(instantProvider.name, { _tag: "Chat", request: Schema.decodeUnknownSync(ChatRequest.ChatRequest)(body) })
    )
    const build = (cacheLayer: Layer.Layer<Cache.Cache, unknown>) =>
      Effect.runPromise(
        Layer.build(Layer.merge(cacheLayer, Layer.succeed(Provider.Provider, instantProvider))).pipe(
          Effect.flatMap((context) =>
            Effect.map(
              Effect.provide(RequestManager.make({ concurrency: 64 }), context),
              (manager) => ({ manager, cache: Effect.runSync(Effect.provide(Cache.Cache, context)) })
            )
          ),
          Scope.extend(scope)
        )
      )
    const setups = {
      memory: await build(Cache.memory({ capacity: options.items })),
      disk: await build(DiskCache.layer({ path: dir.path }))
    }
    for (const [name, setup] of Object.entries(setups)) {
      const start = performance.now()
      const { stats } = await Effect.runPromise(setup.manager.run(work))
      if (stats.failed > 0 || stats.cached > 0) throw new Error(`cache fill (${name}): ${JSON.stringify(stats)}`)
      log(`  cache ${name}: filled ${fmt(options.items)} in ${fmt((performance.now() - start) / 1000, 1)} s`)
    }
    const rerun = (setup: (typeof setups)["memory"]) => async (count: number) => {
      const { stats } = await Effect.runPromise(setup.manager.run(count === work.length ? work : work.slice(0, count)))
      if (stats.cached !== count) throw new Error(`warm rerun: ${stats.cached} of ${count} from the cache`)
    }
    const direct = (setup: (typeof setups)["memory"]) => (count: number) =>
      Effect.runPromise(Effect.gen(function*() {
        for (let i = 0; i < count; i++) {
          if (Option.isNone(yield* setup.cache.get(keys[i]!))) return yield* Effect.dieMessage(`miss at ${i}`)
        }
      }))
    const samples = await alternate(
      [
        { name: "memory", run: rerun(setups.memory) },
        { name: "disk", run: rerun(setups.disk) },
        { name: "memory, cache.get alone", run: direct(setups.memory) },
        { name: "disk, cache.get alone", run: direct(setups.disk) }
      ],
      options.items,
      options.rounds,
      {
        warmup: Math.min(options.items, 10_000),
        onSample: (name, sample) => log(`  cache ${name}: ${fmt(sample.requests / (sample.wallMs / 1000))} hits/s`)
      }
    )
    const rates = Object.fromEntries([...samples].map(([name, list]) => [name, summarize(list).rate]))
    const memory = rates["memory"] ?? Number.NaN
    const disk = rates["disk"] ?? Number.NaN
    const section: Section = {
      title: "4. Cache (warm rerun)",
      markdown: [
        `${fmt(options.items)} chat items already answered, rerun with \`manager.run(items)\` (concurrency 64); ` +
        `${options.rounds} alternating rounds, medians. "cache.get alone": the same keys read from the cache service ` +
        "in a loop (no manager), the cache's own share of the cost.",
        "",
        table(
          ["cache", "RequestManager rerun hits/s", "µs/item", "cache.get alone/s", "µs/get"],
          (["memory", "disk"] as const).map((name) => {
            const rerunRate = rates[name] ?? Number.NaN
            const getRate = rates[`${name}, cache.get alone`] ?? Number.NaN
            return [
              name === "memory" ? "Cache.memory" : "DiskCache (LMDB)",
              fmt(rerunRate),
              fmt(1e6 / rerunRate, 1),
              fmt(getRate),
              fmt(1e6 / getRate, 1)
            ]
          })
        ),
        "",
        `Target ≥ 500,000/s memory: ${verdict(memory >= 500_000, fmt(memory) + "/s")}. ` +
        `Target ≥ 50,000/s disk: ${verdict(disk >= 50_000, fmt(disk) + "/s")}.`
      ].join("\n")
    }
    return { section, rates }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    dir.dispose()
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2)
  run({ items: numberFlag(argv, "items", 100_000), rounds: numberFlag(argv, "rounds", 3), log: console.log })
    .then(({ section }) => console.log(`\n## ${section.title}\n\n${section.markdown}`))
    .catch((error) => {
      console.error(error)
      process.exitCode = 1
    })
}
