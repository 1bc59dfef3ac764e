/**
 * 2. Latency hiding: the testing server answers after a fixed 20 ms or 100 ms; at concurrency 100,
 * 500 and 1,000 the best possible throughput is concurrency ÷ latency. FastLLM and the raw undici
 * loop (same concurrency, same pool size) alternate; medians; throughput as a share of that ideal
 * and of the raw ceiling.
 *
 *   npx tsx bench/latency.ts [--rounds 3] [--waves 10]
 *
 * Each run sends max(waves × concurrency, 5,000) requests, so the ramp-up and the tail (partial
 * waves) weigh little.
 *
 * @since 0.1.0
 */
import { pathToFileURL } from "node:url"
import { bodies, type Client, fastLlm, rawUndici } from "./lib/clients.js"
import { alternate, fmt, numberFlag, type Section, summarize, table, verdict } from "./lib/report.js"
import { startServer } from "./lib/server.js"

/**
 * Options of the latency section.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly latencies: ReadonlyArray<number>
  readonly concurrencies: ReadonlyArray<number>
  readonly rounds: number
  readonly waves: number
  readonly minRequests: number
  readonly log?: (line: string) => void
}

/**
 * One (latency, concurrency) cell's medians.
 *
 * @since 0.1.0
 * @category models
 */
export interface Row {
  readonly latencyMs: number
  readonly concurrency: number
  readonly requests: number
  readonly ideal: number
  readonly raw: number
  readonly fastllm: number
}

/**
 * Runs every cell.
 *
 * @since 0.1.0
 * @category running
 */
export const run = async (options: Options): Promise<{ readonly rows: ReadonlyArray<Row>; readonly section: Section }> => {
  const log = options.log ?? (() => {})
  const rows: Array<Row> = []
  for (const latencyMs of options.latencies) {
    const server = await startServer(["--latency", String(latencyMs)])
    try {
      for (const concurrency of options.concurrencies) {
        const requests = Math.max(options.waves * concurrency, options.minRequests)
        const work = bodies(requests, `latency-${latencyMs}-${concurrency}`)
        const clients: Record<"raw" | "fastllm", Client> = {
          raw: rawUndici(server.url, concurrency),
          fastllm: await fastLlm(server.url, concurrency)
        }
        const samples = await alternate(
          (["raw", "fastllm"] as const).map((key) => ({ name: key, run: (count: number) => clients[key].run(work, count) })),
          requests,
          options.rounds,
          {
            warmup: Math.min(requests, 2 * concurrency),
            onSample: (name, sample) =>
              log(`  latency ${latencyMs} ms c=${concurrency} ${name}: ${fmt(sample.requests / (sample.wallMs / 1000))} req/s`)
          }
        )
        for (const client of Object.values(clients)) await client.close()
        rows.push({
          latencyMs,
          concurrency,
          requests,
          ideal: concurrency / (latencyMs / 1000),
          raw: summarize(samples.get("raw")!).rate,
          fastllm: summarize(samples.get("fastllm")!).rate
        })
      }
    } finally {
      await server.stop()
    }
  }
  const worstOfRaw = Math.min(...rows.map((row) => row.fastllm / row.raw))
  const reachable = rows.filter((row) => row.raw >= 0.9 * row.ideal)
  const worstOfIdeal = reachable.length === 0 ? Number.NaN : Math.min(...reachable.map((row) => row.fastllm / row.ideal))
  const section: Section = {
    title: "2. Latency hiding",
    markdown: [
      `Fixed server latency; ideal = concurrency ÷ latency. FastLLM (\`RequestManager\`, \`concurrency\` = the column, ` +
      `\`Cache.none\`) and the raw undici loop alternate for ${options.rounds} rounds; medians. Requests per run: ` +
      `max(${options.waves} × concurrency, ${fmt(options.minRequests)}).`,
      "",
      table(
        ["latency", "concurrency", "requests", "ideal req/s", "raw undici req/s", "FastLLM req/s", "FastLLM ÷ ideal", "FastLLM ÷ raw", "raw ÷ ideal"],
        rows.map((row) => [
          `${row.latencyMs} ms`,
          String(row.concurrency),
          fmt(row.requests),
          fmt(row.ideal),
          fmt(row.raw),
          fmt(row.fastllm),
          fmt(row.fastllm / row.ideal, 2),
          fmt(row.fastllm / row.raw, 2),
          fmt(row.raw / row.ideal, 2)
        ])
      ),
      "",
      `Target ≥ 0.9 of the raw ceiling: ${verdict(worstOfRaw >= 0.9, `worst ${fmt(worstOfRaw, 2)}`)}. ` +
      `Target ≥ 0.9 of ideal, where the raw loop itself reaches 0.9 of ideal (elsewhere the client's CPU, not ` +
      `latency, is the limit on this machine): ${verdict(worstOfIdeal >= 0.9, `worst ${fmt(worstOfIdeal, 2)}`)}.`
    ].join("\n")
  }
  return { rows, section }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2)
  run({
    latencies: [20, 100],
    concurrencies: [100, 500, 1000],
    rounds: numberFlag(argv, "rounds", 3),
    waves: numberFlag(argv, "waves", 10),
    minRequests: numberFlag(argv, "min-requests", 5000),
    log: console.log
  }).then(({ section }) => console.log(`\n## ${section.title}\n\n${section.markdown}`)).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
