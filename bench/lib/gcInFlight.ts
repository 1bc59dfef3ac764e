/**
 * What the garbage collector sees with many calls in flight, old against new against the raw
 * undici loop: each variant runs in a child process of its own under `--trace-gc-nvp` (one line
 * per collection: bytes allocated since the last one, bytes that survived or were promoted, the
 * pause), against one testing server, variants alternating by round, medians. Per request:
 * bytes allocated, bytes a scavenge copied, GC pause, CPU and req/s. "Copied per scavenge ÷ calls
 * in flight" is about what each waiting item holds.
 *
 *   node --conditions=@fastllm/source --import tsx bench/lib/gcInFlight.ts --base REV \
 *     [--concurrency 1000] [--latency 20] [--requests 20000] [--rounds 3] [--versions raw,old,new]
 *
 * @since 0.3.0
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { extract, load } from "./baseRevision.js"
import { apiKey, bodies, type Client, rawUndici } from "./clients.js"
import { fmt, median, numberFlag, table, stringFlag } from "./report.js"
import { startServer } from "./server.js"

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => stringFlag(argv, name)

interface Measured {
  readonly requests: number
  readonly cpuMicros: number
  readonly wallMs: number
  readonly allocated: number
  readonly copied: number
  readonly scavenges: number
  readonly marks: number
  readonly pauseMs: number
}

/** One variant in this process (the child): a warm-up, then the measured run between two marks. */
const child = async (variant: string, url: string) => {
  const concurrency = numberFlag(argv, "concurrency", 1000)
  const requests = numberFlag(argv, "requests", 20_000)
  const work = bodies(requests, `gc-${variant}-${process.pid}`)
  let client: Client
  if (variant === "raw") client = rawUndici(url, concurrency)
  else {
    const base = flag("base")
    const { core, openai } = await load(variant === "old" && base !== undefined ? extract(base) : undefined)
    const scope = Effect.runSync(Scope.make())
    const manager = await Effect.runPromise(
      Layer.build(Layer.merge(openai.OpenAiProvider.layer({ apiKey: Redacted.make(apiKey), baseUrl: url }), core.Cache.none)).pipe(
        Effect.flatMap((context) => Effect.provide(core.RequestManager.make({ concurrency }), context)),
        Scope.extend(scope)
      )
    )
    client = {
      run: async (items, count) => {
        const { stats } = await Effect.runPromise(manager.run(items.slice(0, count)))
        if (stats.failed > 0) throw new Error(`${variant}: ${stats.failed} failed`)
      },
      close: () => Effect.runPromise(Scope.close(scope, Exit.void))
    }
  }
  await client.run(bodies(Math.min(requests, 4000), `gc-warm-${variant}-${process.pid}`), Math.min(requests, 4000))
  console.log("@@start")
  const cpu = process.cpuUsage()
  const started = performance.now()
  await client.run(work, requests)
  const wallMs = performance.now() - started
  const used = process.cpuUsage(cpu)
  console.log(`@@end ${JSON.stringify({ requests, cpuMicros: used.user + used.system, wallMs })}`)
  await client.close()
}

const field = (line: string, name: string): number => {
  const match = new RegExp(` ${name}=([0-9.]+)`).exec(line)
  return match === null ? 0 : Number(match[1])
}

/** Runs one variant in a child under `--trace-gc-nvp` and sums the collections of its measured run. */
const runChild = (variant: string, url: string): Promise<Measured> =>
  new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      ["--trace-gc-nvp", "--conditions=@fastllm/source", "--import", "tsx", new URL(import.meta.url).pathname, ...argv, "--child", variant, "--url", url],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    let measuring = false
    let allocated = 0
    let copied = 0
    let scavenges = 0
    let marks = 0
    let pauseMs = 0
    let result: Measured | undefined
    createInterface({ input: proc.stdout! }).on("line", (line) => {
      if (line === "@@start") measuring = true
      else if (line.startsWith("@@end ")) {
        measuring = false
        const end = JSON.parse(line.slice(6)) as { requests: number; cpuMicros: number; wallMs: number }
        result = { ...end, allocated, copied, scavenges, marks, pauseMs }
      } else if (measuring && line.includes(" pause=")) {
        allocated += field(line, "allocated")
        pauseMs += field(line, "pause")
        if (line.includes(" gc=s ")) {
          scavenges++
          copied += field(line, "new_space_survived") + field(line, "promoted")
        } else marks++
      }
    })
    proc.once("error", reject)
    proc.once("exit", (code) => result === undefined ? reject(new Error(`${variant}: exited with ${code}`)) : resolve(result))
  })

const main = async () => {
  const variant = flag("child")
  if (variant !== undefined) return child(variant, flag("url")!)
  const base = flag("base")
  const versions = (flag("versions") ?? "raw,old,new").split(",")
  if (versions.includes("old")) {
    if (base === undefined) throw new Error("--base REV is required for the old version")
    extract(base)
  }
  const rounds = numberFlag(argv, "rounds", 3)
  const concurrency = numberFlag(argv, "concurrency", 1000)
  const server = await startServer(["--latency", flag("latency") ?? "20"])
  const samples = new Map<string, Array<Measured>>(versions.map((v) => [v, []]))
  try {
    for (let round = 0; round < rounds; round++) {
      for (const v of versions) {
        const m = await runChild(v, server.url)
        samples.get(v)!.push(m)
        console.log(
          `  round ${round + 1}, ${v}: ${fmt(m.requests / (m.wallMs / 1000))} req/s, ${fmt(m.cpuMicros / m.requests, 1)} µs CPU, ` +
            `${fmt(m.allocated / m.requests)} B allocated, ${fmt(m.pauseMs * 1000 / m.requests, 1)} µs GC pause per request; ` +
            `${fmt(m.scavenges)} scavenges copying ${fmt(m.copied / Math.max(1, m.scavenges) / 1024)} KiB each (${
              fmt(m.copied / Math.max(1, m.scavenges) / concurrency)
            } B per call in flight), ${m.marks} mark-compacts`
        )
      }
    }
  } finally {
    await server.stop()
  }
  const med = (v: string, f: (m: Measured) => number) => median(samples.get(v)!.map(f))
  const rawRate = versions.includes("raw") ? med("raw", (m) => m.requests / (m.wallMs / 1000)) : undefined
  console.log(`\nbase ${base ?? "-"}, concurrency ${concurrency}, latency ${flag("latency") ?? "20"} ms, ${rounds} rounds (medians), Node ${process.version}\n`)
  console.log(table(
    ["variant", "req/s", "÷ raw", "CPU µs/req", "GC pause µs/req", "allocated B/req", "copied per scavenge KiB", "copied B per call in flight"],
    versions.map((v) => {
      const rate = med(v, (m) => m.requests / (m.wallMs / 1000))
      return [
        v,
        fmt(rate),
        rawRate === undefined ? "–" : fmt(rate / rawRate, 2),
        fmt(med(v, (m) => m.cpuMicros / m.requests), 1),
        fmt(med(v, (m) => m.pauseMs * 1000 / m.requests), 1),
        fmt(med(v, (m) => m.allocated / m.requests)),
        fmt(med(v, (m) => m.copied / Math.max(1, m.scavenges) / 1024)),
        fmt(med(v, (m) => m.copied / Math.max(1, m.scavenges) / concurrency))
      ]
    })
  ))
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
