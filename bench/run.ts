/**
 * `npm run bench`: every comparison of issue 7 in one process run, side by side in alternating
 * rounds with medians and ratios, printed and written to bench/RESULTS.md with the machine's
 * description (absolute times on these shared 2-core machines drift; the ratios are the result).
 *
 *   npm run bench                      # full: ~8 minutes on a quiet machine (~12 when the CLI runs from source), half of it the 1M-line memory run
 *   npm run bench -- --quick           # smaller sizes, fewer rounds: ~2 minutes
 *   npm run bench -- --memory-sizes 1,100000   # other sizes for the memory runs (the first is the baseline)
 *   npm run bench -- --only overhead,cache   # some sections (overhead, latency, memory, cache, breakdown, faults); the
 *                                            # others are kept from the previous RESULTS.md
 *   npm run bench -- --no-write        # print only, leave RESULTS.md alone
 *
 * Sections: 1. overhead vs raw undici and the openai SDK (bench/overhead.ts), 2. latency hiding
 * (bench/latency.ts), 3. memory of streamed JSONL (bench/memory.ts), 4. cache hits/s
 * (bench/cache.ts), 5. CPU per request (from the runs of 1), 6. where a request's CPU goes, step
 * by step (bench/lib/breakdown.ts: the "why" behind missed targets), 7. the reliability suite's
 * fault mix at bench scale (bench/lib/faultMix.ts). The results other benchmarks wrote
 * under bench/results/*.md are appended, and the hand-written analysis in bench/lib/analysis.md.
 *
 * @since 0.1.0
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Cache from "./cache.js"
import * as Latency from "./latency.js"
import * as Breakdown from "./lib/breakdown.js"
import * as FaultMix from "./lib/faultMix.js"
import { machine, type Section } from "./lib/report.js"
import * as Memory from "./memory.js"
import * as Overhead from "./overhead.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const argv = process.argv.slice(2)
const quick = argv.includes("--quick")
const write = !argv.includes("--no-write")
const onlyIndex = argv.indexOf("--only")
const only = onlyIndex === -1 ? undefined : new Set((argv[onlyIndex + 1] ?? "").split(","))
const wanted = (name: string) => only === undefined || only.has(name)
const memorySizesIndex = argv.indexOf("--memory-sizes")
const memorySizes = memorySizesIndex === -1
  ? undefined
  : (argv[memorySizesIndex + 1] ?? "").split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0)

const plan = quick
  ? {
    overhead: { requests: 5_000, rounds: 2, concurrencies: [64, 256] },
    latency: { latencies: [20, 100], concurrencies: [100, 500, 1000], rounds: 1, waves: 4, minRequests: 2_000 },
    memory: { sizes: [1, 10_000, 50_000], concurrency: 64 },
    cache: { items: 20_000, rounds: 2 },
    breakdown: { items: 5_000, rounds: 2, concurrency: 64 },
    faults: { requests: 2_000 }
  }
  : {
    overhead: { requests: 20_000, rounds: 3, concurrencies: [64, 256] },
    latency: { latencies: [20, 100], concurrencies: [100, 500, 1000], rounds: 3, waves: 10, minRequests: 5_000 },
    memory: { sizes: [1, 100_000, 1_000_000], concurrency: 64 },
    cache: { items: 100_000, rounds: 3 },
    breakdown: { items: 20_000, rounds: 3, concurrency: 64 },
    faults: { requests: 10_000 }
  }

const log = (line: string) => console.log(line)

const main = async () => {
  const startedAt = new Date()
  const description = machine()
  console.log(`FastLLM benchmarks (${quick ? "quick" : "full"}), ${startedAt.toISOString()}\n${description}\n`)
  const sections = new Map<string, Section>()
  const timings: Array<string> = []
  const stamps = new Map<string, string>()
  const timed = async <A>(name: string, body: () => Promise<A>): Promise<A> => {
    const start = performance.now()
    const load = os.loadavg()[0]!.toFixed(2)
    const at = new Date().toISOString()
    console.log(`${name} ...`)
    const result = await body()
    const seconds = (performance.now() - start) / 1000
    timings.push(`${name} ${seconds.toFixed(0)} s`)
    stamps.set(name, `_Measured ${at} in ${seconds.toFixed(0)} s; load average ${load} at its start._`)
    return result
  }
  const stamped = (name: string, section: Section): Section => ({
    title: section.title,
    markdown: `${section.markdown}\n\n${stamps.get(name) ?? ""}`
  })
  if (wanted("overhead")) {
    const { sections: [overhead, cpu] } = await timed("overhead", () => Overhead.run({ ...plan.overhead, log }))
    sections.set("1", stamped("overhead", overhead!))
    sections.set("5", stamped("overhead", cpu!))
  }
  if (wanted("latency")) {
    sections.set("2", stamped("latency", (await timed("latency", () => Latency.run({ ...plan.latency, log }))).section))
  }
  if (wanted("memory")) {
    const sizes = memorySizes ?? plan.memory.sizes
    sections.set("3", stamped("memory", (await timed("memory", () => Memory.run({ ...plan.memory, sizes, log }))).section))
  }
  if (wanted("cache")) {
    sections.set("4", stamped("cache", (await timed("cache", () => Cache.run({ ...plan.cache, log }))).section))
  }

  if (wanted("breakdown")) {
    sections.set("6", stamped("breakdown", (await timed("breakdown", () => Breakdown.run({ ...plan.breakdown, log }))).section))
  }

  if (wanted("faults")) {
    sections.set("7", stamped("faults", (await timed("faults", () => FaultMix.run({ ...plan.faults, log }))).section))
  }

  for (const section of [...sections].sort(([a], [b]) => a.localeCompare(b)).map(([, section]) => section)) {
    console.log(`\n## ${section.title}\n\n${section.markdown}`)
  }
  if (!write) return

  // With --only, the sections not run now are kept from the previous RESULTS.md (each carries the
  // time it was measured).
  const resultsFile = path.join(here, "RESULTS.md")
  const kept: Array<string> = []
  if (only !== undefined && fs.existsSync(resultsFile)) {
    const previous = fs.readFileSync(resultsFile, "utf8")
    for (const match of previous.matchAll(/^## ([1-9])\. ([^\n]*)\n([\s\S]*?)(?=^## |^# |(?![\s\S]))/gm)) {
      const [, number, title, body] = match
      if (number !== undefined && title !== undefined && body !== undefined && !sections.has(number)) {
        sections.set(number, { title: `${number}. ${title}`, markdown: body.trim() })
        kept.push(number)
      }
    }
  }
  const ordered = [...sections].sort(([a], [b]) => a.localeCompare(b)).map(([, section]) => section)

  const resultsDir = path.join(here, "results")
  const others = fs.existsSync(resultsDir)
    ? fs.readdirSync(resultsDir).filter((name) => name.endsWith(".md")).sort().map((name) =>
      `### bench/results/${name}\n\n` +
      fs.readFileSync(path.join(resultsDir, name), "utf8").replace(/^#+ .*\n+/, "").replace(/^(#+) /gm, "###$1 ").trim()
    )
    : []
  const analysisFile = path.join(here, "lib", "analysis.md")
  const analysis = fs.existsSync(analysisFile) ? fs.readFileSync(analysisFile, "utf8").trim() : ""
  const markdown = [
    "# FastLLM benchmarks",
    "",
    `Written by \`npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}\` ` +
    `(bench/run.ts) on ${startedAt.toISOString()}, in ${timings.join(", ")}` +
    (kept.length === 0 ? "." : `; sections ${kept.join(", ")} kept from the previous run (see their own dates).`),
    "",
    `Machine: ${description} (at the start).`,
    "",
    "Every comparison runs side by side in this one process run: the contenders alternate for several rounds " +
    "(rotating order, one untimed warm-up each) and the tables show each one's median round. The testing server " +
    "(packages/testing) runs in a child process on 127.0.0.1, so server and client each get a core and the client's " +
    "CPU is measured alone. The machine is shared and its load drifts: read the ratios, not the absolute numbers.",
    "",
    ...ordered.flatMap((section) => [`## ${section.title}`, "", section.markdown, ""]),
    ...(analysis === "" ? [] : [analysis, ""]),
    ...(others.length === 0 ? [] : ["## Other benchmark results (bench/results)", "", ...others.flatMap((text) => [text, ""])])
  ].join("\n")
  fs.writeFileSync(resultsFile, markdown)
  console.log(`\nwrote bench/RESULTS.md (${timings.join(", ")})`)
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
