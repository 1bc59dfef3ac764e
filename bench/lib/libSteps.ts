/**
 * Old against new, side by side in one process: the library's per-item paths of a base revision
 * (extracted with `git archive` into bench/out/base-REV, its packages importing each other) next
 * to this checkout's, in alternating rounds, medians. What each library step of issue 18 was
 * measured with; the raw undici loop, the `openai` SDK and `cache.get` alone are the references
 * the targets are ratios of.
 *
 *   npx tsx bench/lib/libSteps.ts --base REV [--items 100000] [--requests 10000] [--rounds 3]
 *     [--only hit,miss,http] [--concurrency 64] [--latency 0] [--window N|default] [--no-sdk] [--versions old,new]
 *
 * Run it as `node --conditions=@fastllm/source --import tsx bench/lib/libSteps.ts ...` to load
 * this checkout's packages from their sources (as the base's are) rather than from their builds.
 *
 * - hit: a warm rerun of `--items` raw chat bodies through `manager.run` (Cache.memory and
 *   DiskCache, concurrency 64), and `cache.get` of the same keys in a loop (no manager).
 * - miss: `--requests` unique bodies through `manager.run`, `Cache.none`, an instant in-process
 *   provider (no HTTP): the manager's own CPU per item.
 * - late: `--requests` unique bodies, `Cache.none`, a provider (no HTTP) that answers after
 *   `--latency` ms from a timer: the engine's own CPU per item with `--concurrency` calls in flight.
 * - http: `--requests` unique bodies against the testing server (0 ms, its own process): raw
 *   undici, the `openai` SDK, and `manager.run` over `OpenAiProvider.layer` (window = concurrency,
 *   as bench/provider-overhead.ts, unless `--window`), old and new; `--concurrency` and
 *   `--latency` (the server's, ms) for the many-in-flight case (`--concurrency 1000 --latency 20`).
 *
 * @since 0.2.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { apiKey, bodies, openAiSdk, rawUndici } from "./clients.js"
import { alternate, fmt, numberFlag, summarize, table, tempDir, stringFlag } from "./report.js"
import { extract, load, type Stack } from "./baseRevision.js"
import { startServer } from "./server.js"

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => stringFlag(argv, name)

const main = async () => {
  const base = flag("base")
  if (base === undefined) throw new Error("--base REV is required (the revision to compare with)")
  const items = numberFlag(argv, "items", 100_000)
  const requests = numberFlag(argv, "requests", 10_000)
  const rounds = numberFlag(argv, "rounds", 3)
  const only = new Set((flag("only") ?? "hit,miss,http").split(","))
  const concurrency = numberFlag(argv, "concurrency", 64)
  const latency = flag("latency") ?? "0"
  // `--window default`: the manager's own default window (2 × concurrency); else = concurrency
  const window = flag("window") === "default" ? {} : { window: numberFlag(argv, "window", concurrency) }
  // `--versions new`: this checkout alone (for a profile of one version)
  const versions = new Set((flag("versions") ?? "old,new").split(","))
  const stacks: Record<string, Stack> = {}
  if (versions.has("old")) stacks["old"] = await load(extract(base))
  if (versions.has("new")) stacks["new"] = await load(undefined)
  const scope = Effect.runSync(Scope.make())
  const inScope = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.extend(effect, scope))
  const dirs: Array<{ readonly dispose: () => void }> = []
  const variants: Array<{ readonly name: string; readonly count: number; readonly run: (count: number) => Promise<void> }> = []
  const closers: Array<() => Promise<void>> = []

  const check = (label: string, expectCached: boolean) => (result: { readonly stats: { readonly failed: number; readonly cached: number } }, count: number) => {
    if (result.stats.failed > 0) throw new Error(`${label}: ${result.stats.failed} failed`)
    if (expectCached && result.stats.cached !== count) throw new Error(`${label}: ${result.stats.cached} of ${count} from the cache`)
  }

  if (only.has("hit")) {
    const work = bodies(items, "steps-hit")
    for (const [version, { core, disk }] of Object.entries(stacks)) {
      const answer = Schema.decodeUnknownSync(core.ChatResponse.ChatResponse)({
        id: "chatcmpl-bench",
        object: "chat.completion",
        created: 1_700_000_000,
        model: "gpt-4o-mini",
        choices: [{ index: 0, message: { role: "assistant", content: "Echo", refusal: null }, logprobs: null, finish_reason: "stop" }],
        usage: { prompt_tokens: 8, completion_tokens: 10, total_tokens: 18 }
      })
      const instant = core.Provider.fromFunctions({ name: "bench-instant", chat: () => Effect.succeed(answer) })
      const keys = work.map((body) =>
        core.RequestKey.make(instant.name, { _tag: "Chat", request: Schema.decodeUnknownSync(core.ChatRequest.ChatRequest)(body) })
      )
      const dir = tempDir("fastllm-bench-steps-")
      dirs.push(dir)
      for (const [cacheName, cacheLayer] of [
        ["memory", core.Cache.memory({ capacity: items })],
        ["disk", disk.DiskCache.layer({ path: dir.path })]
      ] as const) {
        const { cache, manager } = await inScope(
          Effect.flatMap(Layer.build(Layer.merge(cacheLayer, Layer.succeed(core.Provider.Provider, instant))), (context) =>
            Effect.map(Effect.provide(core.RequestManager.make({ concurrency }), context), (manager) => ({
              manager,
              cache: Effect.runSync(Effect.provide(core.Cache.Cache, context))
            })))
        )
        await Effect.runPromise(manager.run(work))
        variants.push({
          name: `${version}: warm rerun, ${cacheName}`,
          count: items,
          run: async (count) => check("warm rerun", true)(await Effect.runPromise(manager.run(work.slice(0, count))), count)
        })
        if (version === "new") {
          variants.push({
            name: `cache.get alone, ${cacheName}`,
            count: items,
            run: (count) =>
              Effect.runPromise(Effect.gen(function*() {
                for (let i = 0; i < count; i++) {
                  if (Option.isNone(yield* cache.get(keys[i]!))) return yield* Effect.dieMessage(`miss at ${i}`)
                }
              }))
          })
        }
      }
    }
  }

  if (only.has("miss")) {
    const work = bodies(requests, "steps-miss")
    for (const [version, { core }] of Object.entries(stacks)) {
      const answer = Schema.decodeUnknownSync(core.ChatResponse.ChatResponse)({
        id: "chatcmpl-bench",
        model: "gpt-4o-mini",
        choices: [{ index: 0, message: { role: "assistant", content: "Echo" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 8, completion_tokens: 10, total_tokens: 18 }
      })
      const instant = { ...core.Provider.fromFunctions({ name: "instant", chat: () => Effect.succeed(answer) }), enforcesTimeout: true }
      const manager = await inScope(
        Effect.provide(core.RequestManager.make({ concurrency }), Layer.merge(core.Cache.none, Layer.succeed(core.Provider.Provider, instant)))
      )
      variants.push({
        name: `${version}: miss, instant provider`,
        count: requests,
        run: async (count) => check("miss", false)(await Effect.runPromise(manager.run(work.slice(0, count))), count)
      })
    }
  }

  if (only.has("late")) {
    // the engine alone with many calls in flight: a provider (no HTTP) that answers after
    // `--latency` ms from a plain timer, at `--concurrency`, the manager's default window
    const work = bodies(requests, "steps-late")
    const millis = Number(latency)
    for (const [version, { core }] of Object.entries(stacks)) {
      const answer = Schema.decodeUnknownSync(core.ChatResponse.ChatResponse)({
        id: "chatcmpl-bench",
        model: "gpt-4o-mini",
        choices: [{ index: 0, message: { role: "assistant", content: "Echo" }, finish_reason: "stop" }],
        usage: { prompt_tokens: 8, completion_tokens: 10, total_tokens: 18 }
      })
      const late = {
        ...core.Provider.fromFunctions({
          name: "late",
          chat: () =>
            Effect.async<typeof answer>((resume) => {
              const timer = setTimeout(() => resume(Effect.succeed(answer)), millis)
              return Effect.sync(() => clearTimeout(timer))
            })
        }),
        enforcesTimeout: true
      }
      const manager = await inScope(
        Effect.provide(core.RequestManager.make({ concurrency, ...window, maxRetries: 0 }), Layer.merge(core.Cache.none, Layer.succeed(core.Provider.Provider, late)))
      )
      variants.push({
        name: `${version}: late provider (${millis} ms, ${concurrency} in flight)`,
        count: requests,
        run: async (count) => check("late", false)(await Effect.runPromise(manager.run(work.slice(0, count))), count)
      })
    }
  }

  if (only.has("http")) {
    const server = await startServer(["--latency", latency])
    closers.push(() => server.stop())
    const work = bodies(requests, "steps-http")
    const raw = rawUndici(server.url, concurrency)
    const sdk = openAiSdk(server.url, concurrency)
    closers.push(() => raw.close())
    variants.push({ name: "raw undici", count: requests, run: (count) => raw.run(work, count) })
    if (!argv.includes("--no-sdk")) variants.push({ name: "openai SDK", count: requests, run: (count) => sdk.run(work, count) })
    for (const [version, { core, openai }] of Object.entries(stacks)) {
      const manager = await inScope(
        Effect.flatMap(
          Layer.build(Layer.merge(openai.OpenAiProvider.layer({ apiKey: Redacted.make(apiKey), baseUrl: server.url }), core.Cache.none)),
          (context) => Effect.provide(core.RequestManager.make({ concurrency, ...window, maxRetries: 0 }), context)
        )
      )
      variants.push({
        name: `${version}: manager + provider (HTTP)`,
        count: requests,
        run: async (count) => check("http", false)(await Effect.runPromise(manager.run(work.slice(0, count))), count)
      })
    }
  }

  try {
    // variants of different sizes: each runs its own count, alternating by round
    const groups = new Map<number, typeof variants>()
    for (const variant of variants) groups.set(variant.count, [...(groups.get(variant.count) ?? []), variant])
    const rows: Array<ReadonlyArray<string>> = []
    for (const [count, group] of groups) {
      const samples = await alternate(group, count, rounds, {
        warmup: Math.min(count, 5_000),
        onSample: (name, sample) =>
          console.log(`  ${name}: ${fmt(sample.cpuMicros / sample.requests, 2)} µs/item, ${fmt(sample.requests / (sample.wallMs / 1000))}/s`)
      })
      for (const variant of group) {
        const { cpu, rate } = summarize(samples.get(variant.name)!)
        rows.push([variant.name, fmt(count), fmt(cpu, 2), fmt(rate)])
      }
    }
    console.log(`\nbase ${base}, ${rounds} alternating rounds (medians), Node ${process.version}\n`)
    console.log(table(["variant", "items", "CPU µs/item", "items/s"], rows))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void)).catch((error) => console.error(Cause.pretty(Cause.die(error))))
    for (const close of closers) await close()
    for (const dir of dirs) dir.dispose()
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
