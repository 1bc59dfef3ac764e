/**
 * Old against new, side by side in one process: the streamed path (`manager.streamWith`, what the
 * CLI runs) of a base revision (bench/lib/baseRevision.ts) next to this checkout's, in alternating
 * rounds, medians, CPU µs per item:
 *
 * - hit: a warm rerun of `--items` chat bodies (Cache.memory, every one cached), each with a line
 *   number as its `meta`, from a Stream of chunks of 1,024 (as the CLI's lines come).
 * - miss: `--requests` unique bodies, `Cache.none`, an instant in-process provider (no HTTP): the
 *   manager's own CPU per streamed item.
 *
 *   node --conditions=@fastllm/source --import tsx bench/lib/streamSteps.ts --base REV \
 *     [--items 100000] [--requests 20000] [--rounds 5] [--only hit,miss] [--concurrency 64]
 *
 * @since 0.2.0
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { extract, load, type Stack } from "./baseRevision.js"
import { bodies } from "./clients.js"
import { alternate, fmt, numberFlag, summarize, table, stringFlag } from "./report.js"

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => stringFlag(argv, name)

const main = async () => {
  const base = flag("base")
  if (base === undefined) throw new Error("--base REV is required (the revision to compare with)")
  const items = numberFlag(argv, "items", 100_000)
  const requests = numberFlag(argv, "requests", 20_000)
  const rounds = numberFlag(argv, "rounds", 5)
  const concurrency = numberFlag(argv, "concurrency", 64)
  const only = new Set((flag("only") ?? "hit,miss").split(","))
  const stacks: Record<string, Stack> = { old: await load(extract(base)), new: await load(undefined) }
  const scope = Effect.runSync(Scope.make())
  const inScope = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>) => Effect.runPromise(Scope.extend(effect, scope))
  const variants: Array<{ readonly name: string; readonly count: number; readonly run: (count: number) => Promise<void> }> = []

  /** The first `count` bodies as the CLI streams its lines: chunks of 1,024, a line number each. */
  const lines = (work: ReadonlyArray<unknown>, count: number) => {
    const chunks: Array<Chunk.Chunk<{ readonly meta: number; readonly request: unknown }>> = []
    for (let at = 0; at < count; at += 1024) {
      chunks.push(Chunk.unsafeFromArray(work.slice(at, Math.min(count, at + 1024)).map((request, i) => ({ meta: at + i + 1, request }))))
    }
    return Stream.flattenChunks(Stream.fromIterable(chunks))
  }
  const drain = async (
    manager: Stack["core"]["RequestManager"]["RequestManager"]["Service"],
    work: ReadonlyArray<unknown>,
    count: number,
    expectCached: boolean
  ) => {
    let seen = 0
    let cached = 0
    await Effect.runPromise(Stream.runForEach(manager.streamWith(lines(work, count)), ({ meta, result }) =>
      Effect.sync(() => {
        if (meta !== ++seen) throw new Error(`out of order: ${meta} after ${seen - 1}`)
        if (result._tag !== "Success") throw new Error(`item ${meta} failed`)
        if (result.fromCache) cached++
      })))
    if (seen !== count) throw new Error(`${seen} results for ${count} items`)
    if (expectCached && cached !== count) throw new Error(`${cached} of ${count} from the cache`)
  }

  for (const [version, { core }] of Object.entries(stacks)) {
    const answer = Schema.decodeUnknownSync(core.ChatResponse.ChatResponse)({
      id: "chatcmpl-bench",
      object: "chat.completion",
      created: 1_700_000_000,
      model: "gpt-4o-mini",
      choices: [{ index: 0, message: { role: "assistant", content: "Echo", refusal: null }, logprobs: null, finish_reason: "stop" }],
      usage: { prompt_tokens: 8, completion_tokens: 10, total_tokens: 18 }
    })
    const instant = { ...core.Provider.fromFunctions({ name: "bench-instant", chat: () => Effect.succeed(answer) }), enforcesTimeout: true }
    if (only.has("hit")) {
      const work = bodies(items, "stream-steps-hit")
      const manager = await inScope(Effect.provide(
        core.RequestManager.make({ concurrency }),
        Layer.merge(core.Cache.memory({ capacity: items }), Layer.succeed(core.Provider.Provider, instant))
      ))
      await Effect.runPromise(manager.run(work))
      variants.push({ name: `${version}: streamWith, warm rerun (memory)`, count: items, run: (count) => drain(manager, work, count, true) })
    }
    if (only.has("miss")) {
      const work = bodies(requests, "stream-steps-miss")
      const manager = await inScope(Effect.provide(
        core.RequestManager.make({ concurrency }),
        Layer.merge(core.Cache.none, Layer.succeed(core.Provider.Provider, instant))
      ))
      variants.push({ name: `${version}: streamWith, miss, instant provider`, count: requests, run: (count) => drain(manager, work, count, false) })
    }
  }

  try {
    const groups = new Map<number, typeof variants>()
    for (const variant of variants) groups.set(variant.count, [...(groups.get(variant.count) ?? []), variant])
    const rows: Array<ReadonlyArray<string>> = []
    for (const [count, group] of groups) {
      const samples = await alternate(group, count, rounds, { warmup: Math.min(count, 5_000) })
      for (const variant of group) {
        const { cpu, rate } = summarize(samples.get(variant.name)!)
        rows.push([variant.name, fmt(count), fmt(cpu, 2), fmt(rate)])
      }
    }
    console.log(`\nbase ${base}, ${rounds} alternating rounds (medians), Node ${process.version}\n`)
    console.log(table(["variant", "items", "CPU µs/item", "items/s"], rows))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
