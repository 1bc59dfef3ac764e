/**
 * Summarizes a V8 `.cpuprofile` (from `node --cpu-prof`): self time by function and by source
 * area (our packages, effect, undici, node internals, GC, idle).
 *
 *   npx tsx bench/lib/profile.ts PROFILE.cpuprofile [--top 25]
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import { pathToFileURL } from "node:url"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}

interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const isProfile = (value: unknown): value is Profile =>
  typeof value === "object" && value !== null && "nodes" in value && Array.isArray(value.nodes) &&
  "samples" in value && Array.isArray(value.samples) && "timeDeltas" in value && Array.isArray(value.timeDeltas)

/**
 * Where a source URL belongs: `@fastllm/<package>/<file>`, `effect/<file>`, `undici`, `node:...`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const area = (url: string): string => {
  if (url === "") return "(native/V8)"
  const ours = /\/packages\/([^/]+)\/src\/(.+)$/.exec(url)
  if (ours !== null) return `@fastllm/${ours[1]}/${ours[2]}`
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.+)$/.exec(url)
  if (module !== null) return module[1] === "effect" || module[1]!.startsWith("@effect/") ? `${module[1]}/${module[2]!.replace(/^dist\/esm\//, "")}` : module[1]!
  if (url.startsWith("node:")) return url
  return url.replace(/^file:\/\/.*\/work\/main\//, "")
}

/**
 * Self time (ms) per function and per area, largest first.
 *
 * @since 0.1.0
 * @category running
 */
export const summarize = (file: string): {
  readonly totalMs: number
  readonly functions: ReadonlyArray<readonly [string, number]>
  readonly areas: ReadonlyArray<readonly [string, number]>
  /** Each sample charged to the nearest of our source files on its stack (library time included). */
  readonly ours: ReadonlyArray<readonly [string, number]>
} => {
  const parsed: unknown = JSON.parse(fs.readFileSync(file, "utf8"))
  if (!isProfile(parsed)) throw new Error(`${file} is not a .cpuprofile`)
  const byId = new Map(parsed.nodes.map((node) => [node.id, node]))
  const self = new Map<number, number>()
  parsed.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (parsed.timeDeltas[i] ?? 0)))
  const functions = new Map<string, number>()
  const areas = new Map<string, number>()
  const ours = new Map<string, number>()
  const parent = new Map<number, number>()
  for (const node of parsed.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const isOurs = (url: string) => /\/packages\/[^/]+\/src\/|\/bench\//.test(url)
  let total = 0
  for (const [id, micros] of self) {
    const frame = byId.get(id)?.callFrame
    if (frame === undefined) continue
    total += micros
    const where = area(frame.url)
    const name = `${frame.functionName || "(anonymous)"} ${where}:${frame.lineNumber + 1}`
    functions.set(name, (functions.get(name) ?? 0) + micros)
    const group = where.startsWith("effect/") ? "effect/" + where.slice(7).split("/")[0] : where
    areas.set(group, (areas.get(group) ?? 0) + micros)
    let at: number | undefined = id
    let owner = frame.url === "" ? `${frame.functionName} (no JS caller)` : "(not under our code)"
    while (at !== undefined) {
      const url = byId.get(at)?.callFrame.url ?? ""
      if (isOurs(url)) {
        owner = area(url)
        break
      }
      at = parent.get(at)
    }
    ours.set(owner, (ours.get(owner) ?? 0) + micros)
  }
  const sorted = (map: Map<string, number>) =>
    [...map].map(([name, micros]) => [name, micros / 1000] as const).sort((a, b) => b[1] - a[1])
  return { totalMs: total / 1000, functions: sorted(functions), areas: sorted(areas), ours: sorted(ours) }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2]
  if (file === undefined) {
    console.error("usage: bench/lib/profile.ts PROFILE.cpuprofile [--top N]")
    process.exitCode = 2
  } else {
    const topIndex = process.argv.indexOf("--top")
    const top = topIndex === -1 ? 25 : Number(process.argv[topIndex + 1])
    const { areas, functions, ours, totalMs } = summarize(file)
    const pct = (ms: number) => `${(100 * ms / totalMs).toFixed(1).padStart(5)}%`
    console.log(`total ${totalMs.toFixed(0)} ms sampled\n\nself time by area:`)
    for (const [name, ms] of areas.slice(0, top)) console.log(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${name}`)
    console.log("\ntime charged to the nearest of our files on the stack (libraries it calls included):")
    for (const [name, ms] of ours.slice(0, top)) console.log(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${name}`)
    console.log("\nself time by function:")
    for (const [name, ms] of functions.slice(0, top)) console.log(`${pct(ms)} ${ms.toFixed(0).padStart(7)} ms  ${name}`)
  }
}
