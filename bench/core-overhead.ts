/**
 * The two hand-written pieces of the RequestManager's hot path against the Effect modules they
 * replace, CPU µs per operation, side by side in alternating rounds (the numbers the comments in
 * packages/core/src/internal/slots.ts and orderedWindow.ts cite):
 *
 * - `Slots.withSlot` vs `Effect.makeSemaphore(n).withPermits(1)`, 64 fibers sharing 16 slots;
 * - `mapOrdered` vs `Stream.mapEffect(f, { concurrency })`, ordered, window 128.
 *
 *   npx tsx bench/core-overhead.ts [--ops 50000] [--rounds 3]
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { pathToFileURL } from "node:url"
import { mapOrdered } from "../packages/core/src/internal/orderedWindow.js"
import { Slots } from "../packages/core/src/internal/slots.js"
import { alternate, fmt, numberFlag, summarize, table } from "./lib/report.js"

const work = Effect.yieldNow()

const withSemaphore = (ops: number) =>
  Effect.flatMap(Effect.makeSemaphore(16), (semaphore) =>
    Effect.forEach(Array.from({ length: ops }), () => semaphore.withPermits(1)(work), { concurrency: 64, discard: true }))

const withSlots = (ops: number) =>
  Effect.suspend(() => {
    const slots = new Slots(16)
    return Effect.forEach(Array.from({ length: ops }), () => slots.withSlot(work), { concurrency: 64, discard: true })
  })

const viaMapEffect = (ops: number) =>
  Stream.runDrain(Stream.mapEffect(Stream.range(1, ops), (n) => Effect.as(work, n), { concurrency: 128 }))

const viaMapOrdered = (ops: number) =>
  Stream.runDrain(mapOrdered(Stream.range(1, ops), { workers: 128, maxBufferedBytes: 32 * 1024 * 1024, sizeOf: () => 8 }, (n) => Effect.as(work, n)))

/** Runs the comparison and returns its markdown table. */
export const run = async (options: { readonly ops: number; readonly rounds: number }): Promise<string> => {
  const variants = [
    { name: "Effect.makeSemaphore withPermits(1)", run: (n: number) => Effect.runPromise(withSemaphore(n)) },
    { name: "Slots.withSlot", run: (n: number) => Effect.runPromise(withSlots(n)) },
    { name: "Stream.mapEffect ordered", run: (n: number) => Effect.runPromise(viaMapEffect(n)) },
    { name: "mapOrdered", run: (n: number) => Effect.runPromise(viaMapOrdered(n)) }
  ]
  const samples = await alternate(variants, options.ops, options.rounds)
  const rows = variants.map((variant) => {
    const { cpu, rate } = summarize(samples.get(variant.name)!)
    return [variant.name, fmt(cpu, 2), fmt(rate)]
  })
  return table(["variant", "CPU µs/op", "ops/s"], rows)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const argv = process.argv.slice(2)
  console.log(await run({ ops: numberFlag(argv, "ops", 50_000), rounds: numberFlag(argv, "rounds", 3) }))
}
